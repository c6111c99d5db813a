-- The outline_sessions read model (Projections/OutlineSessions folds the log into it).
--
-- Every column of the old polling-era table keeps its name and meaning, so the V2
-- API and anything that read the old table keep working; the streaming columns
-- follow. It is disposable: `outline-admin projections rebuild` recreates it from
-- outline_events at any time, and the inline path (same transaction as the
-- append) must produce exactly the same rows.
--
-- outline_sessions is a view over two tables:
--   outline_session_rows   one row per session, every column but the two texts
--   outline_session_text   the streamed texts (output so far, reasoning summary)
--                          as pieces appended batch by batch
-- A live session's output grows by a few characters per delta, many times a
-- second. Kept in one text column, every batch would rewrite the whole outline
-- (tens of kilobytes, TOASTed, WAL-logged) for every live session: the write
-- volume grows with the square of the outline's length. As pieces, a batch
-- inserts a small row; readers concatenate the pieces (a few hundred at most).
CREATE TABLE outline_session_rows (
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
    progress_phase          text        NOT NULL,
    web_searches_done       integer     NOT NULL DEFAULT 0,
    web_search_queries      jsonb       NOT NULL DEFAULT '[]',
    elapsed_ms              bigint      NOT NULL DEFAULT 0,
    last_event_at           timestamptz NOT NULL,
    CONSTRAINT outline_sessions_status_check CHECK (
        status IN ('pending', 'awaiting_clarification', 'clarified', 'researching', 'completed', 'failed', 'cancelled')),
    CONSTRAINT outline_sessions_active_matches_status CHECK (
        is_active = (status NOT IN ('completed', 'failed', 'cancelled')))
)
-- A live session's row is updated with every batch; free room on each page lets
-- PostgreSQL update it in place (HOT: no new index entries), since the indexed
-- columns do not change while it streams.
WITH (fillfactor = 50);

-- piece_no is the last event sequence the piece covers: increasing per session.
CREATE TABLE outline_session_text (
    session_id      uuid    NOT NULL,
    piece_no        integer NOT NULL,
    output_piece    text    NOT NULL,
    reasoning_piece text    NOT NULL,
    CONSTRAINT outline_session_text_pkey PRIMARY KEY (session_id, piece_no)
);

-- The newest session of a workflow (`GET /latest`) and a workflow's history.
CREATE INDEX outline_sessions_workflow_created ON outline_session_rows (workflow_id, created_at DESC);
-- Idempotent starts: the same key for the same workflow names the same session.
CREATE UNIQUE INDEX outline_sessions_idempotency ON outline_session_rows (workflow_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Defines (or redefines) a view with the read model's columns over a rows table
-- and a text table. The migration uses it for outline_sessions; a rebuild uses it
-- for the tables it fills, and again when it swaps them in.
CREATE FUNCTION outline_sessions_define_view(p_view text, p_rows text, p_text text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($view$
        CREATE OR REPLACE VIEW %I AS
        SELECT r.id, r.workflow_id, r.version, r.step_id, r.status, r.outline_prompt,
               r.clarification_questions, r.clarification_answers, r.agent_state,
               r.research_instructions, r.final_outline, r.citations, r.session_metadata,
               r.background_response_id, r.polling_attempts, r.last_polled_at, r.is_active,
               r.error_message, r.started_at, r.completed_at, r.created_at, r.updated_at,
               r.mode, r.requested_by, r.idempotency_key, r.last_event_sequence,
               r.last_provider_sequence,
               coalesce(t.output_text, '') AS output_text,
               coalesce(t.reasoning_summary, '') AS reasoning_summary,
               r.progress_phase, r.web_searches_done, r.web_search_queries, r.elapsed_ms,
               r.last_event_at
          FROM %I r
          LEFT JOIN LATERAL (
                SELECT string_agg(p.output_piece, '' ORDER BY p.piece_no) AS output_text,
                       string_agg(p.reasoning_piece, '' ORDER BY p.piece_no) AS reasoning_summary
                  FROM %I p
                 WHERE p.session_id = r.id
          ) t ON true
        $view$, p_view, p_rows, p_text);
END;
$$;

SELECT outline_sessions_define_view('outline_sessions', 'outline_session_rows', 'outline_session_text');
