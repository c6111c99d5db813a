-- Back to a read model without costs (the events keep theirs).
DROP VIEW outline_sessions;
ALTER TABLE outline_session_rows DROP COLUMN cost;
ALTER TABLE outline_session_rows DROP COLUMN cost_microdollars;
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
