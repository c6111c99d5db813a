-- Refused once a session was removed: the record of it would be lost.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM outline_removed_sessions) THEN
        RAISE EXCEPTION 'cannot migrate below 0018: sessions were removed by retention' USING ERRCODE = 'OS409';
    END IF;
END;
$$;
DROP TRIGGER outline_event_segments_no_update_or_delete ON outline_event_segments;
CREATE TRIGGER outline_event_segments_no_update_or_delete BEFORE UPDATE OR DELETE ON outline_event_segments
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
DROP FUNCTION outline_refuse_unaudited_change();
DROP TABLE outline_removed_sessions;
DROP TABLE outline_retention_policies;
