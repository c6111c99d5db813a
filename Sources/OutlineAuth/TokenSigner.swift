import Foundation
import JWTKit

/// Signs and verifies `AccessToken`s as HS256 JSON Web Tokens with a secret
/// from the environment, through vapor/jwt-kit (constant-time HMAC comparison,
/// standard claim handling). The algorithm is pinned before jwt-kit sees the
/// token: a header naming anything but HS256 (`none`, RS256 with the secret as
/// a "public key") is refused outright.
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

    /// The claims as jwt-kit reads and writes them.
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var role: AccessToken.Role
        var sid: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    /// jwt-kit's key collection is an actor filled asynchronously; every call awaits it once ready.
    private let keys: Task<JWTKeyCollection, Never>

    /// `secret` must be at least 32 bytes (the key of an HS256 MAC).
    public init(secret: String) {
        precondition(secret.utf8.count >= 32, "a token secret of at least 32 bytes is required")
        let key = HMACKey(from: secret)
        keys = Task { await JWTKeyCollection().add(hmac: key, digestAlgorithm: .sha256) }
    }

    public func sign(_ token: AccessToken) async throws -> String {
        let claims = Claims(sub: SubjectClaim(value: token.subject), exp: ExpirationClaim(value: Date(timeIntervalSince1970: TimeInterval(token.expiresAt))),
                            role: token.role, sid: token.session)
        return try await keys.value.sign(claims)
    }

    public func verify(_ text: String) async throws -> AccessToken {
        // Bounded and pinned before any parsing: a huge header or another algorithm never reaches the library.
        guard text.utf8.count <= 8192 else { throw Failure.malformed }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Self.fromBase64URL(parts[0]) else { throw Failure.malformed }
        struct Header: Decodable { var alg: String }
        guard let header = try? JSONDecoder().decode(Header.self, from: headerData) else { throw Failure.malformed }
        guard header.alg == "HS256" else { throw Failure.unsupportedAlgorithm(String(header.alg.prefix(20))) }
        let claims: Claims
        do {
            claims = try await keys.value.verify(text, as: Claims.self)
        } catch let error as JWTError {
            switch error.errorType {
            case .signatureVerificationFailed: throw Failure.badSignature
            case .claimVerificationFailure: throw Failure.expired
            default: throw Failure.malformed
            }
        } catch {
            throw Failure.malformed
        }
        return AccessToken(subject: claims.sub.value, role: claims.role, expiresAt: claims.exp.value, session: claims.sid)
    }

    static func fromBase64URL(_ text: Substring) -> Data? {
        guard text.utf8.count <= 4096 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
