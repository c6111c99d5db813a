import Foundation

/// Where the provider's webhooks for a response are found once the receiver has
/// verified and stored them: a runner following a background response asks
/// here (a cheap read of the database) instead of asking the provider, and
/// fetches the response only when its end was announced. `WebhookDeliveries`
/// in the service answers from `outline_webhook_deliveries`, so a delivery
/// received by any instance reaches the runner on any other, and a runner that
/// starts after the delivery (an adopter) still finds it.
public protocol WebhookInbox: Sendable {
    func delivery(forResponse responseID: String) async throws -> WebhookDelivery?
}

/// One verified webhook delivery.
public struct WebhookDelivery: Sendable, Equatable {
    public var webhookID: String
    public var type: String
    public init(webhookID: String, type: String) {
        self.webhookID = webhookID
        self.type = type
    }
}
