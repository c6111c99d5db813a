import Crypto
import Foundation

/// The provider's webhooks in the Standard Webhooks format: each delivery names
/// itself (`webhook-id`), says when it was sent (`webhook-timestamp`, Unix
/// seconds) and is signed (`webhook-signature: v1,<base64 HMAC-SHA256 of
/// "id.timestamp.body">`, several space-separated while secrets rotate) with a
/// `whsec_<base64>` secret.
///
/// `verify` checks all of it before a byte of the body is parsed: the
/// timestamp within the tolerance either way (a captured delivery cannot be
/// replayed later), and a signature made with any of the configured secrets,
/// compared in constant time. `sign` is what a sender does (the simulated
/// provider, and tests).
public struct StandardWebhook: Sendable {
    public struct Secret: Sendable, Equatable {
        let key: SymmetricKey
        public static func == (a: Secret, b: Secret) -> Bool { a.key == b.key }

        /// `whsec_` followed by base64 (the prefix may be left out, as libraries allow).
        public init(_ text: String) throws {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            let encoded = trimmed.hasPrefix("whsec_") ? String(trimmed.dropFirst(6)) : trimmed
            guard encoded.utf8.count <= 1024, let bytes = Data(base64Encoded: encoded), bytes.count >= 16 else {
                throw Refusal.badSecret
            }
            key = SymmetricKey(data: bytes)
        }
    }

    /// Why a delivery was refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case missingHeader(String)
        case malformedHeader(String)
        case staleTimestamp(secondsOff: Int64)
        case badSignature
        case badSecret

        public var description: String {
            switch self {
            case .missingHeader(let name): "the \(name) header is missing"
            case .malformedHeader(let name): "the \(name) header is malformed"
            case .staleTimestamp(let off): "the webhook-timestamp is \(off) s from now, outside the tolerance"
            case .badSignature: "no webhook-signature matches the body with any configured secret"
            case .badSecret: "a webhook secret must be whsec_ followed by base64 of at least 16 bytes"
            }
        }
    }

    public let secrets: [Secret]
    public let tolerance: Int64

    public init(secrets: [Secret], toleranceSeconds: Int64 = 300) {
        self.secrets = secrets
        self.tolerance = toleranceSeconds
    }

    /// Checks a delivery's headers against its raw body; throws `Refusal`.
    public func verify(id: String?, timestamp: String?, signature: String?, body: [UInt8], now: Date = Date()) throws {
        guard let id else { throw Refusal.missingHeader("webhook-id") }
        guard let timestamp else { throw Refusal.missingHeader("webhook-timestamp") }
        guard let signature else { throw Refusal.missingHeader("webhook-signature") }
        guard !id.isEmpty, id.utf8.count <= 256 else { throw Refusal.malformedHeader("webhook-id") }
        guard timestamp.utf8.count <= 12, let seconds = Int64(timestamp) else { throw Refusal.malformedHeader("webhook-timestamp") }
        let nowSeconds = Int64(now.timeIntervalSince1970)
        let (off, overflow) = nowSeconds.subtractingReportingOverflow(seconds)
        guard !overflow, abs(off) <= tolerance else { throw Refusal.staleTimestamp(secondsOff: overflow ? .max : off) }
        guard signature.utf8.count <= 4096 else { throw Refusal.malformedHeader("webhook-signature") }
        let offered = signature.split(separator: " ").compactMap { part -> Data? in
            let pieces = part.split(separator: ",", maxSplits: 1)
            guard pieces.count == 2, pieces[0] == "v1" else { return nil }
            return Data(base64Encoded: String(pieces[1]))
        }
        guard !offered.isEmpty else { throw Refusal.malformedHeader("webhook-signature") }
        let content = Self.signedContent(id: id, timestamp: timestamp, body: body)
        for secret in secrets {
            for candidate in offered where HMAC<SHA256>.isValidAuthenticationCode(candidate, authenticating: content, using: secret.key) {
                return
            }
        }
        throw Refusal.badSignature
    }

    /// The `webhook-signature` value a sender puts on `body` with `secret`.
    public static func sign(id: String, timestamp: Int64, body: [UInt8], secret: Secret) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: signedContent(id: id, timestamp: String(timestamp), body: body), using: secret.key)
        return "v1," + Data(mac).base64EncodedString()
    }

    static func signedContent(id: String, timestamp: String, body: [UInt8]) -> [UInt8] {
        Array(id.utf8) + [UInt8(ascii: ".")] + Array(timestamp.utf8) + [UInt8(ascii: ".")] + body
    }
}

/// A webhook's body as the provider sends it:
/// `{"id": "evt_…", "object": "event", "type": "response.completed", "created_at": 1750287018, "data": {"id": "resp_…"}}`.
public struct ProviderWebhookEvent: Codable, Sendable, Equatable {
    public struct Subject: Codable, Sendable, Equatable {
        public var id: String
    }
    public var id: String
    public var type: String
    public var createdAt: Int64?
    public var data: Subject

    enum CodingKeys: String, CodingKey {
        case id, type, data
        case createdAt = "created_at"
    }

    public init(id: String, type: String, createdAt: Int64?, responseID: String) {
        self.id = id
        self.type = type
        self.createdAt = createdAt
        self.data = Subject(id: responseID)
    }

    /// The four types that say a response ended.
    public static let terminalTypes: Set<String> = ["response.completed", "response.failed", "response.cancelled", "response.incomplete"]
}
