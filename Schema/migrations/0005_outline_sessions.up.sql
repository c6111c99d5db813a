-- The outline_sessions read model (Projections/OutlineSessions folds the log into it).
--
-- Every column of the old polling-era table keeps its name and meaning, so the V2
-- API and anything that read the old table keep working; the streaming columns
-- follow. The row is disposable: `outline-admin projections rebuild` recreates it
-- from outline_events at any time, and the inline path (same transaction as the
-- append) must produce exactly the same rows.
CREATE TABLE outline_sessions (
    -- The old table's columns.
    id                      uuid        PRIMARY KEY,
    workflow_id             text        NOT NULL,
    version                 integer     NOT NULL DEFAULT 1,
    step_id                 text,
    status                  text        NOT NULL,
    outline_prompt          text        NOT NULL,
    clarification_questions jsonb,
    clarification_answers   jsonb,
    agent_state             jsonb,
    research_instructions   text,
    final_outline           text,
    citations               jsonb,
    session_metadata        jsonb,
    background_response_id  text,
    polling_attempts        integer     NOT NULL DEFAULT 0,
    last_polled_at          timestamptz,
    is_active               boolean     NOT NULL,
    error_message           text,
    started_at              timestamptz NOT NULL,
    completed_at            timestamptz,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    -- The streaming columns.
    mode                    text        NOT NULL CHECK (mode IN ('streaming', 'polling')),
    requested_by            text        NOT NULL,
    idempotency_key         text,
    last_event_sequence     integer     NOT NULL,
    last_provider_sequence  integer,
    output_text             text        NOT NULL DEFAULT '',
    reasoning_summary       text        NOT NULL DEFAULT '',
    progress_phase          text        NOT NULL,
    web_searches_done       integer     NOT NULL DEFAULT 0,
    web_search_queries      jsonb       NOT NULL DEFAULT '[]',
    elapsed_ms              bigint      NOT NULL DEFAULT 0,
    last_event_at           timestamptz NOT NULL,
    CONSTRAINT outline_sessions_status_check CHECK (
        status IN ('pending', 'awaiting_clarification', 'clarified', 'researching', 'completed', 'failed', 'cancelled')),
    CONSTRAINT outline_sessions_active_matches_status CHECK (
        is_active = (status NOT IN ('completed', 'failed', 'cancelled')))
);

-- The newest session of a workflow (`GET /latest`) and a workflow's history.
CREATE INDEX outline_sessions_workflow_created ON outline_sessions (workflow_id, created_at DESC);
-- Idempotent starts: the same key for the same workflow names the same session.
CREATE UNIQUE INDEX outline_sessions_idempotency ON outline_sessions (workflow_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The streamed texts grow by appends and are rewritten on every batch: storing
-- them uncompressed spares a pglz pass over the whole text at each update.
ALTER TABLE outline_sessions ALTER COLUMN output_text SET STORAGE EXTERNAL;
ALTER TABLE outline_sessions ALTER COLUMN reasoning_summary SET STORAGE EXTERNAL;
