-- The log is append-only, enforced by the database itself: UPDATE, DELETE and
-- TRUNCATE on outline_events are refused for every role that does not first
-- disable the triggers (which needs table ownership and leaves a trace in the
-- audit: the hash chain no longer verifies).
CREATE FUNCTION outline_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'outline_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'OS001',
              HINT = 'Append a new event instead (for example a correction or cancellation).';
END;
$$;

-- Statement-level, so even an UPDATE or DELETE that matches no row is refused.
CREATE TRIGGER outline_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON outline_events
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();

CREATE TRIGGER outline_events_no_truncate
    BEFORE TRUNCATE ON outline_events
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
