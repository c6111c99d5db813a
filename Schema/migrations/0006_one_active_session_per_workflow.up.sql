-- At most one active session per workflow: no double start, no double charge.
-- The inline projection writes the session.started row in the same transaction
-- as the event, so a second concurrent start fails on this index and its event
-- is never committed; the API then answers 409 with the active session's id.
CREATE UNIQUE INDEX outline_sessions_one_active_per_workflow
    ON outline_session_rows (workflow_id) WHERE is_active;
