-- Back to hot rows only. Refused, changing nothing, once a compacted session's
-- hot rows are gone (their partition dropped): the segments would be its only
-- copy.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM outline_compacted_sessions c
         WHERE (SELECT count(*) FROM outline_events e WHERE e.session_id = c.session_id AND e.sequence <= c.covered_through) < c.covered_through
    ) THEN
        RAISE EXCEPTION 'cannot migrate below 0015: some sessions live only in segments now'
            USING ERRCODE = 'OS409';
    END IF;
END;
$$;
DROP TABLE outline_compacted_sessions;
DROP TABLE outline_event_segments;
