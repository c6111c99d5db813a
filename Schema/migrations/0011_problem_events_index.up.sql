-- Finds the log's rare problem events by time without scanning the log: the
-- diagnostics page reports failures by code and stream interruptions (resumes)
-- over the last day. Partial, so it holds only those rows: deltas, which are
-- almost every event, never enter it.
CREATE INDEX outline_events_problems_by_time ON outline_events (recorded_at)
    WHERE event_type IN ('session.failed', 'session.resumed');
