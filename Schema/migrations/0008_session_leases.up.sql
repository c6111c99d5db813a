-- Which runner drives which session, for how long.
--
-- A runner takes a session's lease before it calls the provider, renews it with
-- a heartbeat, and lets go when the session ends. A lease that was not renewed
-- before expires_at (its runner crashed, or lost the database) may be taken by
-- any runner, which resumes the session from the log. Two runners never hold
-- one lease at once: taking it is one INSERT ... ON CONFLICT ... WHERE expired.
-- A runner that lost its lease but still writes is stopped by the log's
-- expected sequence (the new owner appends first).
CREATE TABLE outline_session_leases (
    session_id   uuid        PRIMARY KEY,
    owner        text        NOT NULL CHECK (owner <> ''),
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX outline_session_leases_expiry ON outline_session_leases (expires_at);
