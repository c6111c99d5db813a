-- Retention (issue 13): how long finished sessions are kept, globally or per
-- workflow, and the sessions that left by it.
--
-- A session past its retention leaves by the audited path: its segments are
-- deleted in a transaction that first writes its audit record (kind
-- 'retention_expired'); its compacted-session row stays, so its hot rows, if
-- their partition still exists, stay hidden and leave with the partition.
-- outline_removed_sessions is the read model of what was removed and why.

CREATE TABLE outline_retention_policies (
    -- NULL, NULL: the global policy; otherwise one workflow in its owner's namespace.
    workflow_owner text,
    workflow_id    text,
    keep_days      integer     NOT NULL CHECK (keep_days BETWEEN 1 AND 36500),
    set_by         text        NOT NULL,
    set_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((workflow_owner IS NULL) = (workflow_id IS NULL))
);
CREATE UNIQUE INDEX outline_retention_policies_scope ON outline_retention_policies (coalesce(workflow_owner, ''), coalesce(workflow_id, ''));

CREATE TABLE outline_removed_sessions (
    session_id     uuid        PRIMARY KEY,
    workflow_owner text        NOT NULL,
    workflow_id    text        NOT NULL,
    events         integer     NOT NULL,
    last_event_at  timestamptz NOT NULL,
    removed_at     timestamptz NOT NULL DEFAULT now(),
    reason         text        NOT NULL,
    audit_sequence bigint      NOT NULL REFERENCES outline_log_audit (sequence)
);
CREATE TRIGGER outline_removed_sessions_no_update_or_delete BEFORE UPDATE OR DELETE ON outline_removed_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
CREATE TRIGGER outline_removed_sessions_no_truncate BEFORE TRUNCATE ON outline_removed_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();

-- Segments may change only by an audited change: a statement in a transaction
-- that has written an audit record and named it in `outline.audited_change`.
-- Anything else is refused as before.
CREATE FUNCTION outline_refuse_unaudited_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_audit bigint := nullif(current_setting('outline.audited_change', true), '')::bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND v_audit IS NOT NULL
       AND EXISTS (SELECT 1 FROM outline_log_audit WHERE sequence = v_audit AND xmin = pg_current_xact_id()::xid) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: % is not allowed without an audit record in the same transaction', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'OS001',
              HINT = 'Use outline-admin (retention, redact), which records the change in the log audit stream.';
END;
$$;
DROP TRIGGER outline_event_segments_no_update_or_delete ON outline_event_segments;
CREATE TRIGGER outline_event_segments_no_update_or_delete BEFORE UPDATE OR DELETE ON outline_event_segments
    FOR EACH STATEMENT EXECUTE FUNCTION outline_refuse_unaudited_change();
