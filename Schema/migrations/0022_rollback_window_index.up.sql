-- The automatic rollback (issue 14) looks every 30 s at the sessions that
-- ended in its window, by mode and status: an index on when they ended keeps
-- that off a scan of the whole read model.
CREATE INDEX outline_sessions_ended ON outline_session_rows (completed_at) WHERE NOT is_active;
