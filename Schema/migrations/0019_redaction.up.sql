-- Redaction (issue 13): a payload's content can be removed while the chain
-- still verifies (EventLog/Redaction). The log's hot rows then accept one kind
-- of change besides appends: an UPDATE made in a transaction that has written
-- a 'redacted' audit record and names it in `outline.audited_change`
-- (`Redactor` does both). DELETE and TRUNCATE stay refused, and so does every
-- other UPDATE. Each partition keeps its plain guard: a statement against a
-- partition itself is refused whatever it names.
CREATE FUNCTION outline_refuse_unaudited_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_audit bigint := nullif(current_setting('outline.audited_change', true), '')::bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND v_audit IS NOT NULL
       AND EXISTS (SELECT 1 FROM outline_log_audit WHERE sequence = v_audit AND kind = 'redacted' AND xmin = pg_current_xact_id()::xid) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'outline_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'OS001',
              HINT = 'Append a new event instead; to remove content, outline-admin redact records the redaction in the log audit stream.';
END;
$$;
DROP TRIGGER outline_events_no_update_or_delete ON outline_events;
CREATE TRIGGER outline_events_no_update_or_delete BEFORE UPDATE OR DELETE ON outline_events
    FOR EACH STATEMENT EXECUTE FUNCTION outline_refuse_unaudited_update();
