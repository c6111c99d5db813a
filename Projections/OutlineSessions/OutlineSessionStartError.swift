import Foundation

/// Why a session could not be started, with what the caller needs to answer the user.
public enum OutlineSessionStartError: Error, Equatable, CustomStringConvertible {
    /// The workflow already has an active session (HTTP 409 with its id). No event
    /// of the refused start was committed, so nothing was charged.
    case activeSessionExists(workflowId: String, activeSessionID: UUID)
    /// This idempotency key already started a session for the workflow: the
    /// caller should be given that session, not a new one.
    case idempotencyKeyUsed(workflowId: String, sessionID: UUID)

    public var description: String {
        switch self {
        case .activeSessionExists(let workflow, let session):
            "workflow \(workflow) already has an active session (\(session.uuidString.lowercased())); wait for it, or cancel it first"
        case .idempotencyKeyUsed(let workflow, let session):
            "this idempotency key already started session \(session.uuidString.lowercased()) for workflow \(workflow)"
        }
    }
}
