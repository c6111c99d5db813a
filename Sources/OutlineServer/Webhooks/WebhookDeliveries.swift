import Foundation
import PostgresClient
import SessionRunner

/// The verified webhook deliveries (`outline_webhook_deliveries`): the receiver
/// records each webhook-id once; runners on any instance find their
/// response's delivery here instead of polling the provider.
struct WebhookDeliveries: WebhookInbox {
    let pool: PostgresPool

    /// Records a delivery; false when its webhook-id was recorded before (a
    /// repeated delivery: acknowledged, not processed again).
    func record(webhookID: String, type: String, responseID: String, sentAt: Date) async throws -> Bool {
        try await !pool.query(
            """
            INSERT INTO outline_webhook_deliveries (webhook_id, event_type, response_id, sent_at)
            VALUES ($1, $2, $3, $4) ON CONFLICT (webhook_id) DO NOTHING RETURNING 1
            """,
            webhookID, type, responseID, sentAt
        ).isEmpty
    }

    /// The first delivery that announced `responseID`'s end.
    func delivery(forResponse responseID: String) async throws -> WebhookDelivery? {
        try await pool.query(
            "SELECT webhook_id, event_type FROM outline_webhook_deliveries WHERE response_id = $1 ORDER BY received_at, webhook_id LIMIT 1", responseID
        ).first.map { WebhookDelivery(webhookID: try $0.decode(String.self, at: 0), type: try $0.decode(String.self, at: 1)) }
    }
}
