-- Usage limits per user (active sessions, research starts per hour and per day)
-- are counted from the read model inside the start transaction, under a per-user
-- advisory lock, so every instance sees the same counts and two concurrent
-- starts cannot both slip under a limit. This index keeps that count to the
-- user's own recent rows. (New workflows per hour are counted from
-- outline_workflows_by_owner, which 0009 already made.)
CREATE INDEX outline_sessions_by_requester ON outline_session_rows (requested_by, created_at DESC);
