-- Refused once something was redacted: the guard that made it possible is
-- part of how those rows came to be.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM outline_log_audit WHERE kind = 'redacted') THEN
        RAISE EXCEPTION 'cannot migrate below 0019: payloads were redacted' USING ERRCODE = 'OS409';
    END IF;
END;
$$;
DROP TRIGGER outline_events_no_update_or_delete ON outline_events;
CREATE TRIGGER outline_events_no_update_or_delete BEFORE UPDATE OR DELETE ON outline_events
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
DROP FUNCTION outline_refuse_unaudited_update();
