-- Refused once the audit stream holds anything: it is the only record of what
-- left the log.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM outline_log_audit) THEN
        RAISE EXCEPTION 'cannot migrate below 0017: the log audit stream holds records' USING ERRCODE = 'OS409';
    END IF;
END;
$$;
DROP FUNCTION outline_log_audit_append(text, text, text, jsonb);
DROP TABLE outline_log_audit;
