-- Each provider stream event is stored once per session: after a crash or a
-- dropped stream the runner resumes from the last stored provider sequence
-- number, and a replayed event that slipped through is refused here rather than
-- doubling a delta in the outline.
CREATE UNIQUE INDEX outline_events_provider_sequence_once
    ON outline_events (session_id, provider_sequence) WHERE provider_sequence IS NOT NULL;
