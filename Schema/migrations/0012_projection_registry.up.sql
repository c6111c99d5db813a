-- Asynchronous read models and the versions they run at.
--
-- A projection that is not folded inside the append transaction (unlike
-- outline_sessions) is kept current by a projector that reads the log by
-- position after its checkpoint. Positions are handed out under a lock held to
-- COMMIT, so they become visible in order and reading "after the checkpoint"
-- never skips an event.
--
-- Readers use a stable view; the view points at one versioned table. A new
-- version is introduced with zero downtime by `outline-admin projections rebuild
-- session_activity --version N --swap`: it fills a fresh table from the log while
-- the old one keeps serving, catches up, and then, holding this row's lock (the
-- projector skips a locked row), repoints the view and the row in one
-- transaction. The projector reads version, table and checkpoint from this row
-- in every batch, so it continues on the new table from where the rebuild left.
CREATE TABLE outline_projections (
    name       text        PRIMARY KEY,
    version    integer     NOT NULL CHECK (version >= 1),
    table_name text        NOT NULL UNIQUE CHECK (table_name ~ '^[a-z][a-z0-9_]{0,62}$'),
    checkpoint bigint      NOT NULL DEFAULT 0 CHECK (checkpoint >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- session_activity, version 1: per session, how much the log holds and when it
-- was written. The diagnostics page reads it instead of counting the log.
CREATE TABLE outline_session_activity_v1 (
    session_id     uuid        PRIMARY KEY,
    events         bigint      NOT NULL,
    raw_bytes      bigint      NOT NULL,
    first_event_at timestamptz NOT NULL,
    last_event_at  timestamptz NOT NULL
);

CREATE VIEW outline_session_activity AS SELECT * FROM outline_session_activity_v1;

INSERT INTO outline_projections (name, version, table_name) VALUES ('session_activity', 1, 'outline_session_activity_v1');
