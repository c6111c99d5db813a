import EventLog
import Foundation
import PostgresClient

/// The session-level operations on top of the log and its read model: start a
/// session (at most one active per workflow), read a session's row, find a
/// workflow's latest session. Workflows are `WorkflowKey`s: an id in its
/// owner's namespace.
public struct OutlineSessions: Sendable {
    public let store: EventStore
    public let table: OutlineSessionTable

    public init(store: EventStore, table: OutlineSessionTable = .live) {
        self.store = store
        self.table = table
    }

    /// Appends `session.started` for a new session; the read model's unique index
    /// decides, inside the same transaction, whether the workflow may start one.
    ///
    /// `admit` runs first in the same transaction (usage limits: it may lock and
    /// count, and throws to refuse), so what it counted still holds at commit.
    @discardableResult
    public func start(sessionID: UUID = UUID(), _ started: SessionStarted, at time: Date = Date(),
                      admit: (@Sendable (isolated PostgresConnection) throws -> Void)? = nil) async throws -> AppendResult {
        do {
            let append = StreamAppend(sessionID: sessionID, expectedSequence: 0, events: [NewEvent(.sessionStarted(started), recordedAt: time)])
            return try await AppendSpan.around(session: sessionID, events: 1, firstSequence: 1) {
                guard let admit else { return try await store.append(append) }
                let (results, afterCommit) = try await store.pool.withConnection { connection in
                    try await connection.transaction { [store] connection in
                        try admit(connection)
                        return try store.append([append], on: connection)
                    }
                }
                afterCommit.forEach { $0() }
                return results[0]
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            switch error.constraint {
            case "outline_sessions_one_active_per_workflow":
                if let active = try await activeSession(in: started.workflow) {
                    throw OutlineSessionStartError.activeSessionExists(workflowId: started.workflowId, activeSessionID: active.id)
                }
            case "outline_sessions_idempotency":
                if let key = started.idempotencyKey, let existing = try await session(in: started.workflow, idempotencyKey: key) {
                    throw OutlineSessionStartError.idempotencyKeyUsed(workflowId: started.workflowId, sessionID: existing.id)
                }
            default:
                break
            }
            throw error
        }
    }

    public func row(_ id: UUID) async throws -> OutlineSessionRow? {
        try await store.pool.withConnection { connection in try await connection.run { [table] in try table.rows(ids: [id], on: $0)[id] } }
    }

    /// A session's workflow, status and head, or nil when it does not exist.
    public func access(_ id: UUID) async throws -> SessionAccess? {
        guard let row = try await store.pool.query(
            "SELECT workflow_id, status, last_event_sequence, workflow_owner FROM \(table.rowsTable) WHERE id = $1", id
        ).first else { return nil }
        guard let status = OutlineSessionRow.Status(rawValue: try row.decode(String.self, at: 1)) else { return nil }
        return SessionAccess(id: id, workflowId: try row.decode(String.self, at: 0), workflowOwner: try row.decode(String.self, at: 3),
                             status: status, lastEventSequence: try row.decode(Int32.self, at: 2))
    }

    public func activeSession(in workflow: WorkflowKey) async throws -> OutlineSessionRow? {
        try await first("SELECT to_jsonb(s) FROM \(table.name) s WHERE workflow_owner = $1 AND workflow_id = $2 AND is_active", workflow.owner, workflow.id)
    }

    /// The workflow's newest session, active or not.
    public func latest(in workflow: WorkflowKey) async throws -> OutlineSessionRow? {
        try await first("SELECT to_jsonb(s) FROM \(table.name) s WHERE workflow_owner = $1 AND workflow_id = $2 ORDER BY created_at DESC, id LIMIT 1",
                        workflow.owner, workflow.id)
    }

    public func session(in workflow: WorkflowKey, idempotencyKey: String) async throws -> OutlineSessionRow? {
        try await first("SELECT to_jsonb(s) FROM \(table.name) s WHERE workflow_owner = $1 AND workflow_id = $2 AND idempotency_key = $3",
                        workflow.owner, workflow.id, idempotencyKey)
    }

    private func first(_ sql: String, _ binds: (any PostgresEncodable)?...) async throws -> OutlineSessionRow? {
        let result = try await store.pool.query(sql, binds: binds)
        return try OutlineSessionTable.decodeRows(result).values.first
    }
}
