import Crypto
import Foundation

/// Who a request acts for, as an HS256 JSON Web Token carries it.
///
/// API callers send a token with their user id and role; `/start` hands out a
/// short-lived stream token scoped to one session, because EventSource cannot
/// set headers and sends it as `?token=`.
public struct AccessToken: Sendable, Equatable, Codable {
    public enum Role: String, Codable, Sendable { case user, admin }

    /// The user id (`sub`).
    public var subject: String
    public var role: Role
    /// Expiry, seconds since 1970 (`exp`).
    public var expiresAt: Int64
    /// For stream tokens: the only session they open.
    public var session: String?

    enum CodingKeys: String, CodingKey {
        case subject = "sub", role, expiresAt = "exp", session = "sid"
    }

    public init(subject: String, role: Role, expiresAt: Date, session: String? = nil) {
        self.subject = subject
        self.role = role
        self.expiresAt = Int64(expiresAt.timeIntervalSince1970)
        self.session = session
    }
}

/// Signs and verifies `AccessToken`s with HMAC-SHA256 and a secret from the
/// environment. Verification is constant-time in the signature and rejects
/// every other algorithm, expired tokens and malformed input with a reason.
public struct TokenSigner: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case malformed
        case unsupportedAlgorithm(String)
        case badSignature
        case expired

        public var description: String {
            switch self {
            case .malformed: "the token is not a well-formed JWT"
            case .unsupportedAlgorithm(let algorithm): "tokens signed with \(algorithm) are not accepted (HS256 only)"
            case .badSignature: "the token's signature does not match"
            case .expired: "the token has expired"
            }
        }
    }

    private let secret: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: secret) }

    public init(secret: String) {
        precondition(!secret.isEmpty, "a token secret is required")
        self.secret = Array(secret.utf8)
    }

    public func sign(_ token: AccessToken) throws -> String {
        let header = Self.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let payload = Self.base64URL(try encoder.encode(token))
        let signature = HMAC<SHA256>.authenticationCode(for: Data("\(header).\(payload)".utf8), using: key)
        return "\(header).\(payload).\(Self.base64URL(Data(signature)))"
    }

    public func verify(_ text: String, now: Date = Date()) throws -> AccessToken {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Self.fromBase64URL(parts[0]), let payloadData = Self.fromBase64URL(parts[1]),
              let signature = Self.fromBase64URL(parts[2]) else { throw Failure.malformed }
        struct Header: Decodable { var alg: String }
        guard let header = try? JSONDecoder().decode(Header.self, from: headerData) else { throw Failure.malformed }
        guard header.alg == "HS256" else { throw Failure.unsupportedAlgorithm(header.alg) }
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data("\(parts[0]).\(parts[1])".utf8), using: key) else {
            throw Failure.badSignature
        }
        guard let token = try? JSONDecoder().decode(AccessToken.self, from: payloadData) else { throw Failure.malformed }
        guard Double(token.expiresAt) > now.timeIntervalSince1970 else { throw Failure.expired }
        return token
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func fromBase64URL(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
