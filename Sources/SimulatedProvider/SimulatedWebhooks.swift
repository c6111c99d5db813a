import Foundation
import OpenAIResponses

/// Where and how the simulated provider sends its webhooks when a deep-research
/// response ends (completed, failed, incomplete or cancelled), signed as the
/// real provider signs them (Standard Webhooks, `whsec_` secret), and what goes
/// wrong on the way: the faults a receiver must survive, since real delivery is
/// at least once and unordered.
public struct SimulatedWebhooks: Sendable {
    public var url: String
    public var secret: StandardWebhook.Secret
    /// Deliveries of each webhook after the first that was answered 2xx, with the same webhook-id.
    public var duplicates = 0
    /// Time between a response's end and its webhook's first attempt.
    public var delay: Duration = .zero
    /// Each webhook waits a further random 0...jitter (seeded), so webhooks of
    /// responses that ended close together arrive in another order.
    public var jitter: Duration = .zero
    /// Attempts per webhook until one is answered 2xx (a retry reuses the id).
    public var attempts = 4
    public var retryBackoff: Duration = .milliseconds(100)
    /// Never sent: the receiver's fallback (polling) must finish the session.
    public var drop = false
    /// Signed with another key: the receiver must refuse it (401).
    public var wrongSignature = false
    /// The webhook-timestamp this far in the past: the receiver must refuse it as stale.
    public var timestampAge: Duration = .zero

    public init(url: String, secret: StandardWebhook.Secret) {
        self.url = url
        self.secret = secret
    }

    /// A fresh random `whsec_` secret, as the provider's dashboard hands out.
    public static func newSecret() -> String {
        "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }
}

/// One attempt to deliver a webhook, as the simulated provider saw it.
public struct SimulatedWebhookAttempt: Sendable, Equatable {
    public var webhookID: String
    public var type: String
    public var responseID: String
    /// The receiver's status; 0 when the connection failed.
    public var status: Int
}
