import EventLog
import Foundation
import OutlineProjections
import PostgresClient

/// Enforces `UsageLimits` inside the transactions that start sessions and
/// create workflows: a per-user advisory lock serializes one user's starts
/// across every instance, and the counts come from the read model in the same
/// transaction, so two concurrent starts cannot both slip under a limit and a
/// refused start leaves nothing behind (no event, no provider call).
///
/// The locked section is kept short, because a burst of one user's starts
/// passes through it one at a time: a start on a workflow that already has an
/// active session leaves at its first query.
struct UsageLimitGuard: Sendable {
    let limits: UsageLimits

    /// Throws `UsageLimitExceeded` when `user` may not start another session now.
    /// Throws `OutlineSessionStartError.activeSessionExists` first when
    /// `workflow` already has an active session (what the unique index would say
    /// at the insert, said before counting).
    func checkStart(user: String, workflow: WorkflowKey, on connection: isolated PostgresConnection) throws {
        try lock("outline-user-starts:" + user, on: connection)
        let counts = try connection.query(
            """
            SELECT (SELECT id FROM outline_session_rows WHERE workflow_owner = $2 AND workflow_id = $3 AND is_active),
                   count(*) FILTER (WHERE is_active),
                   count(*) FILTER (WHERE created_at > now() - interval '1 hour'),
                   count(*) FILTER (WHERE created_at > now() - interval '1 day')
              FROM outline_session_rows
             WHERE requested_by = $1 AND (is_active OR created_at > now() - interval '1 day')
            """,
            user, workflow.owner, workflow.id
        )[0]
        if let running = try counts.decode(UUID?.self, at: 0) {
            throw OutlineSessionStartError.activeSessionExists(workflowId: workflow.id, activeSessionID: running)
        }
        let active = Int(try counts.decode(Int64.self, at: 1))
        let hour = Int(try counts.decode(Int64.self, at: 2))
        let day = Int(try counts.decode(Int64.self, at: 3))
        if active >= limits.activeSessionsPerUser {
            throw UsageLimitExceeded(limit: "active_sessions", current: active, maximum: limits.activeSessionsPerUser, retryAfterSeconds: 60,
                                     explanation: "You have as many active sessions as you may run at once; wait for one to finish or cancel one")
        }
        if hour >= limits.startsPerUserPerHour {
            throw UsageLimitExceeded(limit: "starts_per_hour", current: hour, maximum: limits.startsPerUserPerHour,
                                     retryAfterSeconds: try freesIn(user: user, window: 3600, over: hour - limits.startsPerUserPerHour, on: connection),
                                     explanation: "You started as many research sessions as you may in an hour")
        }
        if day >= limits.startsPerUserPerDay {
            throw UsageLimitExceeded(limit: "starts_per_day", current: day, maximum: limits.startsPerUserPerDay,
                                     retryAfterSeconds: try freesIn(user: user, window: 86_400, over: day - limits.startsPerUserPerDay, on: connection),
                                     explanation: "You started as many research sessions as you may in a day")
        }
    }

    /// Throws `UsageLimitExceeded` when `workflow`, just inserted in this
    /// transaction, is one more than its owner may create now. The lock comes
    /// after the insert, so the count sees every committed claim and this one.
    func checkNewWorkflow(_ workflow: WorkflowKey, on connection: isolated PostgresConnection) throws {
        let user = workflow.owner
        try lock("outline-user-workflows:" + user, on: connection)
        let created = Int(try connection.query(
            "SELECT count(*) FROM outline_workflows WHERE owner_id = $1 AND workflow_id <> $2 AND created_at > now() - interval '1 hour'", user, workflow.id
        )[0].decode(Int64.self, at: 0))
        guard created >= limits.newWorkflowsPerUserPerHour else { return }
        let frees = try connection.query(
            """
            SELECT extract(epoch FROM created_at + interval '1 hour' - now())::float8 FROM outline_workflows
             WHERE owner_id = $1 AND workflow_id <> $3 AND created_at > now() - interval '1 hour' ORDER BY created_at OFFSET $2 LIMIT 1
            """,
            user, Int64(created - limits.newWorkflowsPerUserPerHour), workflow.id
        ).first.map { try $0.decode(Double.self, at: 0) }
        throw UsageLimitExceeded(limit: "new_workflows_per_hour", current: created, maximum: limits.newWorkflowsPerUserPerHour,
                                 retryAfterSeconds: Self.wholeSeconds(frees, window: 3600),
                                 explanation: "You created as many workflows as you may in an hour")
    }

    private func lock(_ key: String, on connection: isolated PostgresConnection) throws {
        try connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
    }

    /// When the count in the window falls below the maximum: the start that
    /// must leave the window is the `over`-th oldest in it.
    private func freesIn(user: String, window: Int, over: Int, on connection: isolated PostgresConnection) throws -> Int {
        let seconds = try connection.query(
            """
            SELECT extract(epoch FROM created_at + $2 * interval '1 second' - now())::float8 FROM outline_session_rows
             WHERE requested_by = $1 AND created_at > now() - $2 * interval '1 second' ORDER BY created_at OFFSET $3 LIMIT 1
            """,
            user, Int64(window), Int64(over)
        ).first.map { try $0.decode(Double.self, at: 0) }
        return Self.wholeSeconds(seconds, window: window)
    }

    /// Range-checked: at least 1, at most the window, 1 for NaN or nil.
    static func wholeSeconds(_ seconds: Double?, window: Int) -> Int {
        guard let seconds, seconds.isFinite else { return 1 }
        return Int(min(max(seconds.rounded(.up), 1), Double(window)))
    }
}
