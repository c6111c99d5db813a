-- Provider webhooks (issue 14): each delivery the receiver accepted, once.
--
-- Webhooks arrive at least once and in any order. The receiver verifies a
-- delivery's signature, then inserts it here keyed by its webhook-id: a second
-- delivery of the same id finds the row and is acknowledged without being
-- processed again. The runner following the response finds the row by
-- response id (instead of polling the provider) and fetches the response once.
CREATE TABLE outline_webhook_deliveries (
    webhook_id        text        PRIMARY KEY CHECK (length(webhook_id) BETWEEN 1 AND 256),
    event_type        text        NOT NULL,
    response_id       text        NOT NULL,
    -- The delivery's webhook-timestamp, and when it arrived.
    sent_at           timestamptz NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outline_webhook_deliveries_response ON outline_webhook_deliveries (response_id, received_at);

-- The receiver finds the session a response belongs to.
CREATE INDEX outline_sessions_background_response ON outline_session_rows (background_response_id) WHERE background_response_id IS NOT NULL;
