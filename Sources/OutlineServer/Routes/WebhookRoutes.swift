import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import OpenAIResponses

/// `POST /webhooks/openai`: the provider's `response.completed`, `.failed`,
/// `.cancelled` and `.incomplete` webhooks (Standard Webhooks). No bearer
/// token: the signature is the credential, checked before the body is parsed.
///
/// Deliveries come at least once and in any order, so the receiver only
/// records each webhook-id once and answers at once; the runner following the
/// response finds the record and fetches the response itself (a webhook says
/// "look now", it is never trusted for the content).
///
/// Answers: 200 `{"received": true, "duplicate": false}` when recorded, 200 with
/// `"duplicate": true` for a webhook-id already recorded (a retry or a replay:
/// acknowledged so the sender stops, never processed twice), 200 with
/// `"ignored"` for a type it does not act on; 400 for missing or malformed
/// headers or body, 401 for a signature that matches no configured secret or a
/// timestamp outside the tolerance, 413 past 64 KiB, and 404 when no secret is
/// configured (the service polls instead).
struct WebhookRoutes: Sendable {
    let verifier: StandardWebhook?
    let deliveries: WebhookDeliveries

    static let path = "/webhooks/openai"
    static let maximumBody = 64 << 10

    func register(on router: Router<OutlineRequestContext>) {
        router.post(RouterPath(stringLiteral: Self.path)) { request, context in try await receive(request, context) }
    }

    private static func count(_ outcome: String) {
        Counter(label: "outline_webhooks_total", dimensions: [("outcome", outcome)]).increment()
    }

    func receive(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        guard let verifier else {
            Self.count("disabled")
            throw APIError(.notFound, code: "webhooks_disabled", message: "No webhook secret is configured (OPENAI_WEBHOOK_SECRET): this service polls the provider instead.")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maximumBody)
        } catch {
            Self.count("too_large")
            throw APIError(.contentTooLarge, code: "body_too_large", message: "A webhook body may be at most \(Self.maximumBody) bytes.")
        }
        let bytes = Array(buffer: body)
        do {
            try verifier.verify(id: request.headers[Self.id], timestamp: request.headers[Self.timestamp], signature: request.headers[Self.signature], body: bytes)
        } catch let refusal as StandardWebhook.Refusal {
            switch refusal {
            case .missingHeader(let name), .malformedHeader(let name):
                Self.count("malformed")
                throw APIError(.badRequest, code: "invalid_webhook", message: "Refused: \(refusal).", fields: ["field": name])
            case .staleTimestamp:
                Self.count("stale")
                throw APIError(.unauthorized, code: "webhook_timestamp_out_of_tolerance", message: "Refused: \(refusal) (\(verifier.tolerance) s).")
            case .badSignature, .badSecret:
                Self.count("bad_signature")
                throw APIError(.unauthorized, code: "invalid_webhook_signature", message: "Refused: \(refusal).")
            }
        }
        // Verified: only now is the body read as JSON.
        guard let event = try? JSONDecoder().decode(ProviderWebhookEvent.self, from: Data(bytes)),
              !event.data.id.isEmpty, event.data.id.utf8.count <= 256, event.type.utf8.count <= 100 else {
            Self.count("malformed")
            throw APIError(.badRequest, code: "invalid_webhook", message: "Refused: the body is not a webhook event ({\"id\", \"type\", \"data\": {\"id\"}}).",
                           fields: ["field": "body"])
        }
        guard ProviderWebhookEvent.terminalTypes.contains(event.type) else {
            Self.count("ignored")
            return try JSONResponse.make(["received": true, "ignored": true], status: .ok)
        }
        let webhookID = request.headers[Self.id]!
        let sentAt = Date(timeIntervalSince1970: TimeInterval(Int64(request.headers[Self.timestamp]!) ?? 0))
        let recorded = try await deliveries.record(webhookID: webhookID, type: event.type, responseID: event.data.id, sentAt: sentAt)
        Self.count(recorded ? "accepted" : "duplicate")
        return try JSONResponse.make(["received": true, "duplicate": !recorded], status: .ok)
    }

    static let id = HTTPField.Name("webhook-id")!
    static let timestamp = HTTPField.Name("webhook-timestamp")!
    static let signature = HTTPField.Name("webhook-signature")!
}
