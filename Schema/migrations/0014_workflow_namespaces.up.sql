-- Workflow ids live in their owner's namespace.
--
-- Until now a workflow id was global: the first user to start a session on an
-- id owned it, and anyone else got a 404 there. A user could tell which ids
-- exist (404 on someone's id, 201 on a fresh one) and squat ids others would
-- use. Now each user's ids are their own: alice's "wf-1" and bob's "wf-1" are
-- two workflows, and nothing one user does reveals or blocks another's.
--
-- outline_workflows is keyed by (owner_id, workflow_id). The read model gains
-- workflow_owner: session.started's workflowOwner, or its requestedBy for a
-- session started before this migration (the rule the projection's fold
-- applies, so a rebuild from the log gives the same rows). The per-workflow
-- unique indexes (one active session, idempotency keys) and the latest-session
-- index become per (owner, workflow).
--
-- Rewrites every read-model row once (the new column's backfill).
ALTER TABLE outline_workflows DROP CONSTRAINT outline_workflows_pkey;
ALTER TABLE outline_workflows ADD CONSTRAINT outline_workflows_pkey PRIMARY KEY (owner_id, workflow_id);

ALTER TABLE outline_session_rows ADD COLUMN workflow_owner text;
UPDATE outline_session_rows SET workflow_owner = requested_by;
ALTER TABLE outline_session_rows ALTER COLUMN workflow_owner SET NOT NULL;

DROP INDEX outline_sessions_one_active_per_workflow;
CREATE UNIQUE INDEX outline_sessions_one_active_per_workflow
    ON outline_session_rows (workflow_owner, workflow_id) WHERE is_active;
DROP INDEX outline_sessions_idempotency;
CREATE UNIQUE INDEX outline_sessions_idempotency
    ON outline_session_rows (workflow_owner, workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX outline_sessions_workflow_created;
CREATE INDEX outline_sessions_workflow_created ON outline_session_rows (workflow_owner, workflow_id, created_at DESC);

-- The view gains the column, last (a view's existing columns keep their places).
CREATE OR REPLACE FUNCTION outline_sessions_define_view(p_view text, p_rows text, p_text text) RETURNS void
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
               r.last_event_at, r.workflow_owner
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
