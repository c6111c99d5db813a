-- Where each session's stream ends, and where the whole log ends.
--
-- outline_event_streams holds one row per session: its head sequence and the
-- chain link of its head event. Appends move the head with
--   UPDATE ... WHERE head_sequence = <expected>
-- so optimistic concurrency is decided by the database: a writer whose expected
-- sequence is stale changes nothing and gets a conflict, never a gap or an
-- overwrite. The row lock also serializes two writers of the same session.
CREATE TABLE outline_event_streams (
    session_id    uuid        PRIMARY KEY,
    head_sequence integer     NOT NULL CHECK (head_sequence >= 1),
    head_link     bytea       NOT NULL CHECK (octet_length(head_link) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The global position counter: a single row. An append takes its row lock to
-- allocate positions and holds it until COMMIT, so appending transactions commit
-- in position order and a reader that has seen position P will never later find
-- a committed row below P. (PostgreSQL makes a transaction visible before it
-- releases its locks.) The NOTIFY every append sends already serializes commits
-- on a server-wide lock, so this costs no extra throughput; batching many
-- events, even of many sessions, per transaction is how throughput is reached.
CREATE TABLE outline_log_head (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_position bigint  NOT NULL CHECK (last_position >= 0)
);
INSERT INTO outline_log_head (singleton, last_position) VALUES (true, 0);
