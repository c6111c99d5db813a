-- The hot log in partitions by position range (issue 13), so that hot rows
-- leave without UPDATE or DELETE: once every row of a closed partition is
-- covered by segments (0015), `outline-admin partitions drop` records what it
-- held and drops the whole table (DDL).
--
-- Table inheritance, not declarative partitioning: a declarative parent can
-- hold no unique index without the position in it, and migration 0007 (its
-- scope can be reverted and re-applied for a rollback) creates one on
-- outline_events. Here outline_events becomes an empty parent that every
-- partition inherits from; reading it reads them all, and its guards (the
-- append-only triggers, the indexes 0007 and 0011 name) stay where earlier
-- migrations expect them. Each partition has its own copies.
--
-- The rows there are now become the first partition, renamed in place (no
-- copy): the migration takes a moment's exclusive lock on the log and scans it
-- once to prove the partition's position range.
--
-- Invariants that a unique index across partitions used to hold move into the
-- append function, which runs with the session's head row locked:
--   * (session_id, sequence) stays dense and once: it always was the head's
--     job (expected sequence); each partition keeps a unique index too;
--   * a provider event once per session: a session's provider sequences must
--     now rise (outline_event_streams.last_provider_sequence), which implies once.

-- Appenders lock their sessions' heads first, then the log head, then the
-- log: take the same, in the same order, so a running append waits here
-- instead of closing a cycle with this migration.
LOCK TABLE outline_event_streams, outline_log_head IN EXCLUSIVE MODE;
LOCK TABLE outline_events IN ACCESS EXCLUSIVE MODE;

CREATE TABLE outline_event_partitions (
    name           text        PRIMARY KEY,
    first_position bigint      NOT NULL CHECK (first_position >= 1),
    last_position  bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Set when the partition was dropped (the audit stream says what it held).
    dropped_at     timestamptz,
    CHECK (last_position >= first_position)
);
CREATE UNIQUE INDEX outline_event_partitions_first ON outline_event_partitions (first_position);

-- How many positions a new partition spans.
ALTER TABLE outline_log_head ADD COLUMN partition_size bigint NOT NULL DEFAULT 1000000 CHECK (partition_size >= 1);

ALTER TABLE outline_event_streams ADD COLUMN last_provider_sequence integer;

LOCK TABLE outline_events IN ACCESS EXCLUSIVE MODE;

UPDATE outline_event_streams s SET last_provider_sequence = m.last
  FROM (SELECT session_id, max(provider_sequence) AS last FROM outline_events WHERE provider_sequence IS NOT NULL GROUP BY session_id) m
 WHERE m.session_id = s.session_id;

-- Creates the partition after the highest one, sized by outline_log_head.partition_size.
CREATE FUNCTION outline_events_add_partition() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_first bigint;
    v_last  bigint;
    v_name  text;
BEGIN
    SELECT coalesce(max(last_position), 0) + 1 INTO v_first FROM outline_event_partitions;
    SELECT v_first + partition_size - 1 INTO v_last FROM outline_log_head;
    v_name := 'outline_events_p' || lpad(v_first::text, 12, '0');
    EXECUTE format('CREATE TABLE %I (LIKE outline_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)', v_name);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (position BETWEEN %s AND %s)', v_name, v_name || '_range', v_first, v_last);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (position)', v_name, v_name || '_pkey');
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I UNIQUE (session_id, sequence)', v_name, v_name || '_session_sequence_key');
    EXECUTE format('CREATE INDEX %I ON %I (recorded_at) WHERE event_type IN (''session.failed'', ''session.resumed'')',
                   v_name || '_problems_by_time', v_name);
    EXECUTE format('CREATE TRIGGER outline_events_no_update_or_delete BEFORE UPDATE OR DELETE ON %I FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change()', v_name);
    EXECUTE format('CREATE TRIGGER outline_events_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change()', v_name);
    EXECUTE format('ALTER TABLE %I INHERIT outline_events', v_name);
    INSERT INTO outline_event_partitions (name, first_position, last_position) VALUES (v_name, v_first, v_last);
    RETURN v_name;
END;
$$;

DO $$
DECLARE
    v_size bigint;
    v_head bigint;
    v_last bigint;
    v_has_provider_index boolean := to_regclass('outline_events_provider_sequence_once') IS NOT NULL;
    v_name text := 'outline_events_p000000000001';
BEGIN
    SELECT partition_size, last_position INTO v_size, v_head FROM outline_log_head;
    -- The rows there now, closed at the head (droppable once compacted); on an
    -- empty log a first partition of the usual size.
    v_last := CASE WHEN v_head = 0 THEN v_size ELSE v_head END;
    EXECUTE format('ALTER TABLE outline_events RENAME TO %I', v_name);
    EXECUTE format('ALTER INDEX outline_events_pkey RENAME TO %I', v_name || '_pkey');
    EXECUTE format('ALTER INDEX outline_events_session_sequence_key RENAME TO %I', v_name || '_session_sequence_key');
    EXECUTE format('ALTER INDEX outline_events_problems_by_time RENAME TO %I', v_name || '_problems_by_time');
    IF v_has_provider_index THEN
        -- Its job is the append function's now; a partition need not carry it.
        DROP INDEX outline_events_provider_sequence_once;
    END IF;
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (position BETWEEN 1 AND %s)', v_name, v_name || '_range', v_last);

    CREATE TABLE outline_events (LIKE outline_events_p000000000001 INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS);
    ALTER TABLE outline_events DROP CONSTRAINT outline_events_p000000000001_range;
    ALTER TABLE outline_events ADD CONSTRAINT outline_events_pkey PRIMARY KEY (position);
    ALTER TABLE outline_events ADD CONSTRAINT outline_events_session_sequence_key UNIQUE (session_id, sequence);
    CREATE INDEX outline_events_problems_by_time ON outline_events (recorded_at) WHERE event_type IN ('session.failed', 'session.resumed');
    IF v_has_provider_index THEN
        CREATE UNIQUE INDEX outline_events_provider_sequence_once
            ON outline_events (session_id, provider_sequence) WHERE provider_sequence IS NOT NULL;
    END IF;
    CREATE TRIGGER outline_events_no_update_or_delete BEFORE UPDATE OR DELETE ON outline_events
        FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
    CREATE TRIGGER outline_events_no_truncate BEFORE TRUNCATE ON outline_events
        FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
    EXECUTE format('ALTER TABLE %I INHERIT outline_events', v_name);
    INSERT INTO outline_event_partitions (name, first_position, last_position) VALUES (v_name, 1, v_last);
    PERFORM outline_events_add_partition();
END;
$$;

-- Sets the size of new partitions. On an empty log it also replaces the
-- (empty) partitions with ones of the new size, so a fresh install (or a test)
-- starts with the size it chose.
CREATE FUNCTION outline_events_set_partition_size(p_size bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_name text;
BEGIN
    IF p_size IS NULL OR p_size < 1 THEN
        RAISE EXCEPTION 'a partition spans at least one position' USING ERRCODE = 'OS400';
    END IF;
    UPDATE outline_log_head SET partition_size = p_size;
    IF (SELECT last_position FROM outline_log_head) = 0 THEN
        FOR v_name IN SELECT name FROM outline_event_partitions WHERE dropped_at IS NULL LOOP
            EXECUTE format('DROP TABLE %I', v_name);
        END LOOP;
        DELETE FROM outline_event_partitions;
        PERFORM outline_events_add_partition();
        PERFORM outline_events_add_partition();
    END IF;
END;
$$;

COMMENT ON TABLE outline_events IS 'Append-only event log of outline sessions: the parent of its position-range partitions (outline_event_partitions); see Schema/migrations.';

-- The append function of 0004, writing each event into the partition that
-- holds its position (creating the next partition when the log reaches the
-- end of the last one), and refusing a provider sequence that does not rise.
CREATE OR REPLACE FUNCTION outline_append_events(
    p_sessions           uuid[],
    p_expected           integer[],
    p_counts             integer[],
    p_prev_links         bytea[],
    p_new_links          bytea[],
    p_event_sessions     uuid[],
    p_event_sequences    integer[],
    p_event_types        text[],
    p_event_versions     smallint[],
    p_event_codecs       smallint[],
    p_event_payloads     bytea[],
    p_event_raw_sizes    integer[],
    p_event_provider_seq integer[],
    p_event_recorded_at  timestamptz[],
    p_event_links        bytea[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_total integer := coalesce(array_length(p_event_sequences, 1), 0);
    v_last     bigint;
    v_first    bigint;
    v_head     integer;
    v_moved    integer;
    v_created  integer;
    v_session  uuid;
    v_expected integer;
    v_provider integer;
    v_part     record;
    v_rows     integer;
    v_written  integer := 0;
BEGIN
    IF v_total = 0 THEN
        RETURN (SELECT last_position FROM outline_log_head);
    END IF;
    IF (SELECT sum(c) FROM unnest(p_counts) AS c) IS DISTINCT FROM v_total THEN
        RAISE EXCEPTION 'outline_append_events: % events given, stream counts add up to %',
            v_total, (SELECT sum(c) FROM unnest(p_counts) AS c) USING ERRCODE = 'OS400';
    END IF;

    -- A provider event once per session: its provider sequences rise, across
    -- appends (the head row, locked by the caller's heads query, keeps the last)
    -- and within this one. Checked before the heads move (the head update below
    -- records the new last one in the same row version, instead of a second update).
    IF EXISTS (SELECT 1 FROM unnest(p_event_provider_seq) AS p WHERE p IS NOT NULL) THEN
        SELECT n.session_id, n.provider_sequence INTO v_session, v_provider
          FROM (SELECT e.session_id, e.provider_sequence,
                       lag(e.provider_sequence) OVER (PARTITION BY e.session_id ORDER BY e.sequence) AS previous
                  FROM unnest(p_event_sessions, p_event_sequences, p_event_provider_seq) AS e(session_id, sequence, provider_sequence)
                 WHERE e.provider_sequence IS NOT NULL) n
          JOIN unnest(p_sessions, p_expected) AS x(session_id, expected) ON x.session_id = n.session_id
          LEFT JOIN outline_event_streams s ON s.session_id = n.session_id
         -- Only where the head is where the writer expects it: a stale writer
         -- gets its sequence conflict below, as before, not this.
         WHERE coalesce(s.head_sequence, 0) = x.expected
           AND n.provider_sequence <= coalesce(n.previous, s.last_provider_sequence, -1)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'session % already holds provider event %', v_session, v_provider
                USING ERRCODE = '23505', CONSTRAINT = 'outline_events_provider_sequence_once',
                      DETAIL = format('Key (session_id, provider_sequence)=(%s, %s) already exists.', v_session, v_provider);
        END IF;
    END IF;

    WITH provider AS (
        SELECT e.session_id, max(e.provider_sequence) AS last
          FROM unnest(p_event_sessions, p_event_provider_seq) AS e(session_id, provider_sequence)
         WHERE e.provider_sequence IS NOT NULL GROUP BY e.session_id
    ), moved AS (
        UPDATE outline_event_streams AS s
           SET head_sequence = u.expected + u.n, head_link = u.new_link, updated_at = now(),
               last_provider_sequence = coalesce((SELECT p.last FROM provider p WHERE p.session_id = u.session_id), s.last_provider_sequence)
          FROM unnest(p_sessions, p_expected, p_counts, p_prev_links, p_new_links)
               AS u(session_id, expected, n, prev_link, new_link)
         WHERE u.expected > 0
           AND s.session_id = u.session_id
           AND s.head_sequence = u.expected
           AND s.head_link = u.prev_link
        RETURNING 1
    )
    SELECT count(*) INTO v_moved FROM moved;
    INSERT INTO outline_event_streams (session_id, head_sequence, head_link, last_provider_sequence)
    SELECT u.session_id, u.n, u.new_link,
           (SELECT max(e.provider_sequence) FROM unnest(p_event_sessions, p_event_provider_seq) AS e(session_id, provider_sequence) WHERE e.session_id = u.session_id)
      FROM unnest(p_sessions, p_expected, p_counts, p_new_links) AS u(session_id, expected, n, new_link)
     WHERE u.expected = 0
    ON CONFLICT (session_id) DO NOTHING;
    GET DIAGNOSTICS v_created = ROW_COUNT;
    IF v_moved + v_created <> array_length(p_sessions, 1) THEN
        SELECT u.session_id, u.expected, coalesce(s.head_sequence, 0)
          INTO v_session, v_expected, v_head
          FROM unnest(p_sessions, p_expected, p_counts, p_new_links) AS u(session_id, expected, n, new_link)
          LEFT JOIN outline_event_streams s ON s.session_id = u.session_id
         WHERE coalesce(s.head_sequence, 0) <> u.expected + u.n OR s.head_link IS DISTINCT FROM u.new_link
         LIMIT 1;
        RAISE EXCEPTION 'session % is at sequence %, not at the expected %', v_session, v_head, v_expected
            USING ERRCODE = 'OS409', DETAIL = v_session::text || ':' || v_head::text;
    END IF;

    IF EXISTS (
        SELECT 1
          FROM unnest(p_event_sessions, p_event_sequences) AS e(session_id, sequence)
          LEFT JOIN unnest(p_sessions, p_expected, p_counts) AS s(session_id, expected, n) USING (session_id)
         WHERE s.session_id IS NULL OR e.sequence <= s.expected OR e.sequence > s.expected + s.n
    ) THEN
        RAISE EXCEPTION 'outline_append_events: an event sequence lies outside its stream''s new range'
            USING ERRCODE = 'OS400';
    END IF;

    UPDATE outline_log_head SET last_position = last_position + v_total
     RETURNING last_position INTO v_last;
    v_first := v_last - v_total + 1;
    -- The log head's row lock serializes this: one appender creates the next partition.
    WHILE (SELECT coalesce(max(last_position), 0) FROM outline_event_partitions) < v_last LOOP
        PERFORM outline_events_add_partition();
    END LOOP;

    FOR v_part IN
        SELECT name, first_position, last_position FROM outline_event_partitions
         WHERE last_position >= v_first AND first_position <= v_last AND dropped_at IS NULL
         ORDER BY first_position
    LOOP
        EXECUTE format($insert$
            INSERT INTO %I (position, session_id, sequence, event_type, schema_version, codec,
                            payload, raw_size, provider_sequence, recorded_at, chain_link)
            SELECT $11 + e.ord - 1, e.session_id, e.sequence, e.event_type, e.schema_version, e.codec,
                   e.payload, e.raw_size, e.provider_sequence, e.recorded_at, e.chain_link
              FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   WITH ORDINALITY AS e(session_id, sequence, event_type, schema_version, codec,
                                        payload, raw_size, provider_sequence, recorded_at, chain_link, ord)
             WHERE $11 + e.ord - 1 BETWEEN $12 AND $13
            $insert$, v_part.name)
        USING p_event_sessions, p_event_sequences, p_event_types, p_event_versions, p_event_codecs,
              p_event_payloads, p_event_raw_sizes, p_event_provider_seq, p_event_recorded_at, p_event_links,
              v_first, v_part.first_position, v_part.last_position;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_written := v_written + v_rows;
    END LOOP;
    IF v_written <> v_total THEN
        RAISE EXCEPTION 'outline_append_events: % of % events found a partition (positions % to %)', v_written, v_total, v_first, v_last
            USING ERRCODE = 'OS500';
    END IF;

    PERFORM pg_notify('outline_events', string_agg(pair, ',' ORDER BY ord))
       FROM (SELECT u.session_id::text || ':' || (u.expected + u.n)::text AS pair, u.ord, (u.ord - 1) / 150 AS chunk
               FROM unnest(p_sessions, p_expected, p_counts) WITH ORDINALITY AS u(session_id, expected, n, ord)) AS pairs
      GROUP BY chunk;

    RETURN v_last;
END;
$$;
