-- Back to one unpartitioned outline_events: every partition's rows copied, in
-- position order, into one new table under the original names, then the
-- partitions dropped. Rows of partitions already dropped are not brought back
-- (their sessions live in segments, which 0015 keeps readable). Takes the log's
-- exclusive lock for the copy.
LOCK TABLE outline_event_streams, outline_log_head IN EXCLUSIVE MODE;   -- the appenders' order (see the up migration)
LOCK TABLE outline_events IN ACCESS EXCLUSIVE MODE;

CREATE TABLE outline_events_merged (LIKE outline_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS);
INSERT INTO outline_events_merged SELECT * FROM outline_events ORDER BY position;

DO $$
DECLARE
    v_name text;
    v_has_provider_index boolean := to_regclass('outline_events_provider_sequence_once') IS NOT NULL;
BEGIN
    FOR v_name IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = 'outline_events'::regclass LOOP
        EXECUTE format('DROP TABLE %I', v_name);
    END LOOP;
    -- Detached but not yet dropped ones, if a drop was interrupted.
    FOR v_name IN SELECT name FROM outline_event_partitions WHERE to_regclass(name) IS NOT NULL LOOP
        EXECUTE format('DROP TABLE %I', v_name);
    END LOOP;
    DROP TABLE outline_events;
    ALTER TABLE outline_events_merged RENAME TO outline_events;
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
END;
$$;
COMMENT ON TABLE outline_events IS 'Append-only event log of outline sessions; see Schema/migrations.';

DROP FUNCTION outline_events_set_partition_size(bigint);
DROP FUNCTION outline_events_add_partition();
DROP TABLE outline_event_partitions;
ALTER TABLE outline_log_head DROP COLUMN partition_size;
ALTER TABLE outline_event_streams DROP COLUMN last_provider_sequence;

-- 0004's append function, as it was.
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
    v_head     integer;
    v_moved    integer;
    v_created  integer;
    v_session  uuid;
    v_expected integer;
BEGIN
    IF v_total = 0 THEN
        RETURN (SELECT last_position FROM outline_log_head);
    END IF;
    IF (SELECT sum(c) FROM unnest(p_counts) AS c) IS DISTINCT FROM v_total THEN
        RAISE EXCEPTION 'outline_append_events: % events given, stream counts add up to %',
            v_total, (SELECT sum(c) FROM unnest(p_counts) AS c) USING ERRCODE = 'OS400';
    END IF;

    -- 1. Move each stream's head from the expected sequence, set-based (one
    --    statement for all sessions, not one per session), or refuse.
    WITH moved AS (
        UPDATE outline_event_streams AS s
           SET head_sequence = u.expected + u.n, head_link = u.new_link, updated_at = now()
          FROM unnest(p_sessions, p_expected, p_counts, p_prev_links, p_new_links)
               AS u(session_id, expected, n, prev_link, new_link)
         WHERE u.expected > 0
           AND s.session_id = u.session_id
           AND s.head_sequence = u.expected
           AND s.head_link = u.prev_link
        RETURNING 1
    )
    SELECT count(*) INTO v_moved FROM moved;
    INSERT INTO outline_event_streams (session_id, head_sequence, head_link)
    SELECT u.session_id, u.n, u.new_link
      FROM unnest(p_sessions, p_expected, p_counts, p_new_links) AS u(session_id, expected, n, new_link)
     WHERE u.expected = 0
    ON CONFLICT (session_id) DO NOTHING;
    GET DIAGNOSTICS v_created = ROW_COUNT;
    IF v_moved + v_created <> array_length(p_sessions, 1) THEN
        -- Name the first session whose head was not where its writer expected.
        SELECT u.session_id, u.expected, coalesce(s.head_sequence, 0)
          INTO v_session, v_expected, v_head
          FROM unnest(p_sessions, p_expected, p_counts, p_new_links) AS u(session_id, expected, n, new_link)
          LEFT JOIN outline_event_streams s ON s.session_id = u.session_id
         WHERE coalesce(s.head_sequence, 0) <> u.expected + u.n OR s.head_link IS DISTINCT FROM u.new_link
         LIMIT 1;
        RAISE EXCEPTION 'session % is at sequence %, not at the expected %', v_session, v_head, v_expected
            USING ERRCODE = 'OS409', DETAIL = v_session::text || ':' || v_head::text;
    END IF;

    -- 2. Every event's sequence lies in its stream's new range; with the unique
    --    (session_id, sequence) key this makes each range dense.
    IF EXISTS (
        SELECT 1
          FROM unnest(p_event_sessions, p_event_sequences) AS e(session_id, sequence)
          LEFT JOIN unnest(p_sessions, p_expected, p_counts) AS s(session_id, expected, n) USING (session_id)
         WHERE s.session_id IS NULL OR e.sequence <= s.expected OR e.sequence > s.expected + s.n
    ) THEN
        RAISE EXCEPTION 'outline_append_events: an event sequence lies outside its stream''s new range'
            USING ERRCODE = 'OS400';
    END IF;

    -- 3. Allocate global positions; the row lock is held until COMMIT (see 0003).
    UPDATE outline_log_head SET last_position = last_position + v_total
     RETURNING last_position INTO v_last;

    INSERT INTO outline_events (position, session_id, sequence, event_type, schema_version, codec,
                                payload, raw_size, provider_sequence, recorded_at, chain_link)
    SELECT v_last - v_total + e.ord, e.session_id, e.sequence, e.event_type, e.schema_version, e.codec,
           e.payload, e.raw_size, e.provider_sequence, e.recorded_at, e.chain_link
      FROM unnest(p_event_sessions, p_event_sequences, p_event_types, p_event_versions, p_event_codecs,
                  p_event_payloads, p_event_raw_sizes, p_event_provider_seq, p_event_recorded_at, p_event_links)
           WITH ORDINALITY AS e(session_id, sequence, event_type, schema_version, codec,
                                payload, raw_size, provider_sequence, recorded_at, chain_link, ord);

    -- 4. Wake the readers: "session:head" pairs, comma-separated, never a
    --    payload; as few notifications as fit PostgreSQL's 8000-byte limit.
    --    Delivered at COMMIT, so a reader never hears of an event it cannot see.
    PERFORM pg_notify('outline_events', string_agg(pair, ',' ORDER BY ord))
       FROM (SELECT u.session_id::text || ':' || (u.expected + u.n)::text AS pair, u.ord, (u.ord - 1) / 150 AS chunk
               FROM unnest(p_sessions, p_expected, p_counts) WITH ORDINALITY AS u(session_id, expected, n, ord)) AS pairs
      GROUP BY chunk;

    RETURN v_last;
END;
$$;
