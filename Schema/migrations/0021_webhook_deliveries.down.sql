-- Back to polling only: the deliveries are forgotten (the sessions' logs keep
-- the provider.webhook_received events of those that were processed).
DROP INDEX outline_sessions_background_response;
DROP TABLE outline_webhook_deliveries;
