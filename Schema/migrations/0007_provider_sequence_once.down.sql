-- scope: streaming
-- Only the streaming path stores provider stream events one by one (the V2
-- polling path records polls, with no provider sequence), so reverting this
-- leaves V2 working: `outline-admin migrate down --scope streaming`.
DROP INDEX outline_events_provider_sequence_once;
