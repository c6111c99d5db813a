-- The log's own audit stream (issue 13): every change to what the log holds
-- that is not an append (a partition dropped, a payload redacted, a session
-- removed by retention) is recorded here, in the same transaction as the
-- change, with who made it and why. Append-only like the log, and hash-chained
-- (link = SHA-256(previous link ‖ sequence ‖ kind ‖ SHA-256(details as text)))
-- so that an audit of the audit is possible too.
--
-- Not a session stream in outline_events: its rows would sit in the newest
-- partition, uncovered by any segment, and keep every partition that received
-- one from ever being dropped.
CREATE TABLE outline_log_audit (
    sequence    bigint      PRIMARY KEY CHECK (sequence >= 1),
    kind        text        NOT NULL CHECK (kind IN ('partition_dropped', 'redacted', 'retention_expired')),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL CHECK (actor <> ''),
    reason      text        NOT NULL CHECK (reason <> ''),
    details     jsonb       NOT NULL,
    chain_link  bytea       NOT NULL CHECK (octet_length(chain_link) = 32)
);
CREATE INDEX outline_log_audit_kind ON outline_log_audit (kind, recorded_at);

CREATE TRIGGER outline_log_audit_no_update_or_delete BEFORE UPDATE OR DELETE ON outline_log_audit
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
CREATE TRIGGER outline_log_audit_no_truncate BEFORE TRUNCATE ON outline_log_audit
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();

-- Appends one audit record at the stream's head (writers serialized by the
-- table lock: audits are rare) and returns its sequence.
CREATE FUNCTION outline_log_audit_append(p_kind text, p_actor text, p_reason text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_sequence bigint;
    v_previous bytea;
BEGIN
    LOCK TABLE outline_log_audit IN SHARE ROW EXCLUSIVE MODE;
    SELECT sequence, chain_link INTO v_sequence, v_previous FROM outline_log_audit ORDER BY sequence DESC LIMIT 1;
    v_sequence := coalesce(v_sequence, 0) + 1;
    v_previous := coalesce(v_previous, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    INSERT INTO outline_log_audit (sequence, kind, actor, reason, details, chain_link)
    VALUES (v_sequence, p_kind, p_actor, p_reason, p_details,
            sha256(v_previous || int8send(v_sequence) || convert_to(p_kind, 'UTF8') || sha256(convert_to(p_details::text, 'UTF8'))));
    RETURN v_sequence;
END;
$$;
