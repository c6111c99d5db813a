-- Back to one global namespace of workflow ids. Refused, changing nothing, when
-- two users have used the same id: folding their workflows into one would put
-- one user's sessions in another's hands.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM outline_workflows GROUP BY workflow_id HAVING count(*) > 1)
       OR EXISTS (SELECT 1 FROM outline_session_rows GROUP BY workflow_id HAVING count(DISTINCT workflow_owner) > 1) THEN
        RAISE EXCEPTION 'cannot migrate below 0014: some workflow ids are used by more than one user'
            USING ERRCODE = 'OS409';
    END IF;
END;
$$;

DROP VIEW outline_sessions;
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

DROP INDEX outline_sessions_workflow_created;
CREATE INDEX outline_sessions_workflow_created ON outline_session_rows (workflow_id, created_at DESC);
DROP INDEX outline_sessions_idempotency;
CREATE UNIQUE INDEX outline_sessions_idempotency ON outline_session_rows (workflow_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX outline_sessions_one_active_per_workflow;
CREATE UNIQUE INDEX outline_sessions_one_active_per_workflow
    ON outline_session_rows (workflow_id) WHERE is_active;
ALTER TABLE outline_session_rows DROP COLUMN workflow_owner;
SELECT outline_sessions_define_view('outline_sessions', 'outline_session_rows', 'outline_session_text');

ALTER TABLE outline_workflows DROP CONSTRAINT outline_workflows_pkey;
ALTER TABLE outline_workflows ADD CONSTRAINT outline_workflows_pkey PRIMARY KEY (workflow_id);
