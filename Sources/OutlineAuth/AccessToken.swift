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

    /// `expiresAt` is clamped to what a token can carry (year 1 to 9999), so a
    /// configured lifetime can never overflow the conversion.
    public init(subject: String, role: Role, expiresAt: Date, session: String? = nil) {
        self.subject = subject
        self.role = role
        let seconds = expiresAt.timeIntervalSince1970
        self.expiresAt = seconds.isFinite ? Int64(min(max(seconds, -62_135_596_800), 253_402_300_799)) : 0
        self.session = session
    }
}
