import EventLog
import Foundation
import Logging
import OutlineProjections
import PostgresClient

/// What the routes share: the log and its read model, ownership, flags, the
/// background launcher, the live hub, and the token signer. One per instance.
struct ServiceParts: Sendable {
    let store: EventStore
    /// Session reads a standby may serve, never showing less than the caller knows exists.
    let reads: ReplicaAwareReads
    let sessions: OutlineSessions
    let directory: WorkflowDirectory
    let limits: UsageLimitGuard
    let spending: SpendingLedger
    let streamGate: StreamGate
    let flags: FeatureFlags
    let launcher: SessionLauncher
    let hub: LiveEventHub
    let signer: TokenSigner
    let rollback: AutomaticRollback
    let streamTokenLifetime: TimeInterval
    let logger: Logger

    /// A session's row, if `identity` may see it and it belongs to `workflow`;
    /// otherwise the same 404 as a session that does not exist.
    func reachableSession(_ session: UUID, workflow: WorkflowScope?, identity: AccessToken) async throws -> OutlineSessionRow {
        _ = try await reachable(session, workflow: workflow, identity: identity)
        guard let row = try await sessions.row(session) else { throw Self.sessionNotFound(session) }
        return row
    }

    /// The access check alone (workflow, status, head; no texts), for the routes
    /// that stream or read the log and need nothing else of the row.
    /// A user reaches the sessions of their own namespace, an admin every one.
    func reachable(_ session: UUID, workflow: WorkflowScope?, identity: AccessToken) async throws -> SessionAccess {
        guard let access = try await sessions.access(session), workflow?.contains(access) ?? true else {
            // Removed by retention: its owner (or an admin) learns when and why; anyone else gets the same 404.
            if let removal = try await SessionRetention.removal(of: session, pool: store.pool),
               identity.role == .admin || removal.workflowOwner == identity.subject {
                throw APIError(.gone, code: "session_removed",
                               message: "Session \(session.uuidString.lowercased()) was removed at \(TimestampText.format(removal.removedAt)): \(removal.reason).",
                               fields: ["removedAt": TimestampText.format(removal.removedAt), "reason": removal.reason], numbers: ["auditSequence": Int(removal.audit)])
            }
            throw Self.sessionNotFound(session)
        }
        if let scoped = identity.session, scoped.lowercased() != session.uuidString.lowercased() {
            throw Self.sessionNotFound(session)
        }
        guard identity.role == .admin || access.workflowOwner == identity.subject else { throw Self.sessionNotFound(session) }
        return access
    }

    static func sessionNotFound(_ session: UUID) -> APIError {
        APIError(.notFound, code: "session_not_found", message: "No session \(session.uuidString.lowercased()) that you can reach.")
    }

    /// A short-lived token that opens one session's stream (EventSource cannot send
    /// headers). It never outlives the API token that minted it: a revoked-by-expiry
    /// credential must not live on in a URL.
    func streamToken(for session: UUID, identity: AccessToken) async throws -> (token: String, expiresAt: Date) {
        let expiresAt = min(Date().addingTimeInterval(streamTokenLifetime), Date(timeIntervalSince1970: TimeInterval(identity.expiresAt)))
        let token = try await signer.sign(AccessToken(subject: identity.subject, role: identity.role, expiresAt: expiresAt, session: session.uuidString.lowercased()))
        return (token, expiresAt)
    }
}
