-- Back to one segment set per session. Refused, changing nothing, while a
-- session lives in a pack: the pack may be its only copy (its partition
-- dropped), and nothing unpacks a pack back into segments.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM outline_event_packs) THEN
        RAISE EXCEPTION 'cannot migrate below 0023: some sessions are compacted into packs'
            USING ERRCODE = 'OS409';
    END IF;
END;
$$;
ALTER TABLE outline_compacted_sessions DROP COLUMN pack_id;
DROP TABLE outline_event_packs;
