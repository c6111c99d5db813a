-- outline_append_events: the only way events enter the log.
--
-- One call appends the pending events of one or more sessions in the caller's
-- transaction. Arrays are aligned: p_sessions/p_expected/p_counts/p_prev_links/
-- p_new_links describe each session's stream; the p_event_* arrays describe each
-- event, in order. The caller computed sequences and chain links from the heads
-- it read; this function checks them against the heads, so a stale or buggy
-- writer cannot leave a gap, a duplicate or a broken chain.
--
-- Errors: SQLSTATE OS409 (sequence conflict; DETAIL = '<session>:<actual head>').
-- Returns the global position of the last event appended.
CREATE FUNCTION outline_append_events(
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
    v_last  bigint;
    v_head  integer;
BEGIN
    IF v_total = 0 THEN
        RETURN (SELECT last_position FROM outline_log_head);
    END IF;
    IF (SELECT sum(c) FROM unnest(p_counts) AS c) IS DISTINCT FROM v_total THEN
        RAISE EXCEPTION 'outline_append_events: % events given, stream counts add up to %',
            v_total, (SELECT sum(c) FROM unnest(p_counts) AS c) USING ERRCODE = 'OS400';
    END IF;

    -- 1. Move each stream's head from the expected sequence, or refuse.
    FOR i IN 1 .. array_length(p_sessions, 1) LOOP
        IF p_expected[i] = 0 THEN
            INSERT INTO outline_event_streams (session_id, head_sequence, head_link)
            VALUES (p_sessions[i], p_counts[i], p_new_links[i])
            ON CONFLICT (session_id) DO NOTHING;
        ELSE
            UPDATE outline_event_streams
               SET head_sequence = p_expected[i] + p_counts[i],
                   head_link = p_new_links[i],
                   updated_at = now()
             WHERE session_id = p_sessions[i]
               AND head_sequence = p_expected[i]
               AND head_link = p_prev_links[i];
        END IF;
        IF NOT FOUND THEN
            SELECT head_sequence INTO v_head FROM outline_event_streams WHERE session_id = p_sessions[i];
            RAISE EXCEPTION 'session % is at sequence %, not at the expected %',
                p_sessions[i], coalesce(v_head, 0), p_expected[i]
                USING ERRCODE = 'OS409', DETAIL = p_sessions[i]::text || ':' || coalesce(v_head, 0)::text;
        END IF;
    END LOOP;

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

    -- 4. Wake the readers: session id and new head only, never the payload.
    --    Delivered at COMMIT, so a reader never hears of an event it cannot see.
    FOR i IN 1 .. array_length(p_sessions, 1) LOOP
        PERFORM pg_notify('outline_events', p_sessions[i]::text || ':' || (p_expected[i] + p_counts[i])::text);
    END LOOP;

    RETURN v_last;
END;
$$;
