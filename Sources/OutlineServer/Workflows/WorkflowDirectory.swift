import EventLog
import Foundation
import PostgresClient

/// The workflows each user has made (`Schema/migrations/0009`, keyed per owner
/// since 0014). A workflow id is a name in its owner's namespace, so one user's
/// ids are invisible to every other user: nothing to probe, nothing to squat.
struct WorkflowDirectory: Sendable {
    let pool: PostgresPool
    let limits: UsageLimitGuard

    struct Workflow: Sendable, Codable {
        var workflowId: String
        var ownerId: String
        var title: String?
        var createdAt: Date
    }

    /// Makes the workflow if its owner has none of that id yet; true when this
    /// call made it. A new workflow counts against its owner's
    /// `newWorkflowsPerUserPerHour`, checked in the same transaction as the
    /// insert (and only then: using an existing workflow costs no lock).
    @discardableResult
    func claim(_ workflow: WorkflowKey, title: String? = nil) async throws -> Bool {
        if try await exists(workflow) { return false }
        let limits = self.limits
        do {
            return try await pool.withConnection { connection in
                try await connection.transaction { connection -> Bool in
                    // A concurrent claim of the same key waits here for the first to
                    // commit (then inserts nothing) or roll back (then inserts).
                    let inserted = try connection.query(
                        "INSERT INTO outline_workflows (owner_id, workflow_id, title) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
                        workflow.owner, workflow.id, title
                    ).count == 1
                    if inserted { try limits.checkNewWorkflow(workflow, on: connection) }
                    return inserted
                }
            }
        } catch let exceeded as UsageLimitExceeded {
            throw exceeded.apiError
        }
    }

    func exists(_ workflow: WorkflowKey) async throws -> Bool {
        try await !pool.query("SELECT 1 FROM outline_workflows WHERE owner_id = $1 AND workflow_id = $2", workflow.owner, workflow.id).isEmpty
    }

    /// Throws the 404 for a workflow the owner has not made.
    func requireExisting(_ workflow: WorkflowKey) async throws {
        guard try await exists(workflow) else { throw Self.notFound(workflow.id) }
    }

    func workflows(ownedBy user: String, limit: Int = 200) async throws -> [Workflow] {
        try await pool.query(
            "SELECT workflow_id, owner_id, title, created_at FROM outline_workflows WHERE owner_id = $1 ORDER BY created_at DESC LIMIT $2",
            user, Int64(limit)
        ).map { row in
            Workflow(workflowId: try row.decode(String.self, at: 0), ownerId: try row.decode(String.self, at: 1),
                     title: try row.decode(String?.self, at: 2), createdAt: try row.decode(Date.self, at: 3))
        }
    }

    static func notFound(_ workflowID: String) -> APIError {
        APIError(.notFound, code: "workflow_not_found", message: "You have no workflow \(workflowID).")
    }
}
