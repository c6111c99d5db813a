import Foundation
import PostgresClient

/// Who owns which workflow (`Schema/migrations/0009`), and the one access rule
/// every route applies: a user reaches only their own workflows, an admin all.
/// Anything else looks exactly like a workflow that does not exist (404), so
/// ids cannot be probed.
struct WorkflowDirectory: Sendable {
    let pool: PostgresPool
    let limits: UsageLimitGuard

    struct Workflow: Sendable, Codable {
        var workflowId: String
        var ownerId: String
        var title: String?
        var createdAt: Date
    }

    /// Claims the workflow for `user` if nobody owns it; returns its owner. A new
    /// workflow counts against the user's `newWorkflowsPerUserPerHour`, checked
    /// in the same transaction as the insert.
    func claim(_ workflowID: String, for user: String, title: String? = nil) async throws -> String {
        // A concurrent claim that commits meanwhile is invisible to this statement's
        // snapshot (the INSERT waited, then did nothing): ask again.
        for _ in 0..<5 {
            if let owner = try await claimOnce(workflowID, for: user, title: title) { return owner }
        }
        throw APIError(.serviceUnavailable, code: "workflow_busy", message: "Workflow \(workflowID) is being created by another request; retry.")
    }

    private func claimOnce(_ workflowID: String, for user: String, title: String?) async throws -> String? {
        if let owner = try await owner(of: workflowID) { return owner }
        let limits = self.limits
        do {
            return try await pool.withConnection { connection in
                try await connection.transaction { connection -> String? in
                    try limits.checkNewWorkflow(user: user, on: connection)
                    let rows = try connection.query(
                        """
                        WITH claimed AS (
                            INSERT INTO outline_workflows (workflow_id, owner_id, title) VALUES ($1, $2, $3)
                            ON CONFLICT (workflow_id) DO NOTHING RETURNING owner_id
                        )
                        SELECT owner_id FROM claimed UNION ALL SELECT owner_id FROM outline_workflows WHERE workflow_id = $1 LIMIT 1
                        """,
                        workflowID, user, title
                    )
                    return try rows.first?.decode(String.self, at: 0)
                }
            }
        } catch let exceeded as UsageLimitExceeded {
            throw exceeded.apiError
        }
    }

    func owner(of workflowID: String) async throws -> String? {
        try await pool.query("SELECT owner_id FROM outline_workflows WHERE workflow_id = $1", workflowID).first?.decode(String.self, at: 0)
    }

    /// Throws the 404 a stranger gets unless `identity` may use the workflow.
    func requireAccess(_ workflowID: String, by identity: AccessToken) async throws {
        if identity.role == .admin { return }
        guard try await owner(of: workflowID) == identity.subject else { throw Self.notFound(workflowID) }
    }

    /// Starting claims a new workflow; someone else's is a 404 like any other.
    func requireStartable(_ workflowID: String, by identity: AccessToken) async throws {
        let owner = try await claim(workflowID, for: identity.subject)
        guard owner == identity.subject || identity.role == .admin else { throw Self.notFound(workflowID) }
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
        APIError(.notFound, code: "workflow_not_found", message: "No workflow \(workflowID) that you can reach.")
    }
}
