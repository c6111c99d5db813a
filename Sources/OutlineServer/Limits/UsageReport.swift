import Foundation
import Metrics
import PostgresClient

/// The configured limits and who is closest to them, for the diagnostics page,
/// and the same as gauges for `/metrics` (limits, and the highest usage of any
/// user, so an alert can fire before users are refused).
struct UsageReport: Encodable, Sendable {
    struct Limit: Encodable, Sendable { var name: String, maximum: Int, highestUse: Int }
    struct User: Encodable, Sendable {
        var user: String, activeSessions: Int, startsLastHour: Int, startsLastDay: Int, newWorkflowsLastHour: Int, openStreams: Int
    }
    var limits: [Limit]
    /// The 20 users with the most starts in the last day, or active sessions.
    var users: [User]

    static func read(_ pool: PostgresPool, limits: UsageLimits, openStreams: [String: Int]) async throws -> UsageReport {
        let rows = try await pool.query(
            """
            WITH s AS (
                SELECT requested_by AS u, count(*) FILTER (WHERE is_active) AS active,
                       count(*) FILTER (WHERE created_at > now() - interval '1 hour') AS hour,
                       count(*) FILTER (WHERE created_at > now() - interval '1 day') AS day
                  FROM outline_session_rows WHERE is_active OR created_at > now() - interval '1 day' GROUP BY requested_by
            ), w AS (
                SELECT owner_id AS u, count(*) AS created FROM outline_workflows WHERE created_at > now() - interval '1 hour' GROUP BY owner_id
            )
            SELECT coalesce(s.u, w.u), coalesce(s.active, 0), coalesce(s.hour, 0), coalesce(s.day, 0), coalesce(w.created, 0)
              FROM s FULL JOIN w ON w.u = s.u
             ORDER BY coalesce(s.day, 0) DESC, coalesce(s.active, 0) DESC LIMIT 20
            """
        )
        var users = try rows.map { row in
            let user = try row.decode(String.self, at: 0)
            return User(user: user, activeSessions: Int(try row.decode(Int64.self, at: 1)), startsLastHour: Int(try row.decode(Int64.self, at: 2)),
                        startsLastDay: Int(try row.decode(Int64.self, at: 3)), newWorkflowsLastHour: Int(try row.decode(Int64.self, at: 4)),
                        openStreams: openStreams[user] ?? 0)
        }
        for (user, count) in openStreams where !users.contains(where: { $0.user == user }) && users.count < 20 {
            users.append(User(user: user, activeSessions: 0, startsLastHour: 0, startsLastDay: 0, newWorkflowsLastHour: 0, openStreams: count))
        }
        func highest(_ value: (User) -> Int) -> Int { users.map(value).max() ?? 0 }
        let highestUse: [String: Int] = [
            "active_sessions": highest(\.activeSessions), "starts_per_hour": highest(\.startsLastHour), "starts_per_day": highest(\.startsLastDay),
            "new_workflows_per_hour": highest(\.newWorkflowsLastHour), "open_streams": openStreams.values.max() ?? 0,
        ]
        return UsageReport(limits: limits.named.map { Limit(name: $0.name, maximum: $0.value, highestUse: highestUse[$0.name] ?? 0) }, users: users)
    }

    /// `outline_limit{limit}` and `outline_limit_highest_use{limit}`.
    func record() {
        for limit in limits {
            Gauge(label: "outline_limit", dimensions: [("limit", limit.name)]).record(limit.maximum)
            Gauge(label: "outline_limit_highest_use", dimensions: [("limit", limit.name)]).record(limit.highestUse)
        }
    }
}
