import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import OutlineBasics
import OutlineProjections
import PostgresClient

/// `/admin/outline-generation-diagnostics`: a browser navigating there (no
/// credential, HTML wanted) gets the page's shell, which holds no data; the
/// data itself, JSON, needs the admin role like every `/admin` route.
struct DiagnosticsRoutes: Sendable {
    let parts: ServiceParts
    let pool: PostgresPool
    let migrator: Migrator
    let web: WebRoutes
    let auth: AuthMiddleware

    static let path = "/admin/outline-generation-diagnostics"

    func register(on router: Router<OutlineRequestContext>) {
        router.get(RouterPath(stringLiteral: Self.path)) { request, context in
            if request.headers[.authorization] == nil, (request.headers[.accept] ?? "").contains("text/html") {
                return try web.response("admin.html")
            }
            return try await auth.handle(request, context: context) { _, context in
                _ = try context.requireAdmin()
                return try JSONResponse.make(try await report())
            }
        }
    }

    struct Report: Encodable {
        struct Active: Encodable {
            var sessionId: String, workflowId: String, workflowOwner: String, phase: String, mode: String, status: String
            var leaseOwner: String?, leaseAgeSeconds: Double?, lastProviderSequence: Int32?, secondsSinceLastEvent: Double
            /// From the `session_activity` read model (asynchronous: see `projections` for its lag).
            var events: Int64, bytes: Int64
            /// session_activity v2 and later: bytes after LZ4, content deltas, stream resumes.
            var storedBytes: Int64?, contentEvents: Int64?, resumes: Int64?
        }
        struct Projection: Encodable { var name: String, version: Int, table: String, checkpoint: Int64, lag: Int64 }
        struct Failure: Encodable { var sessionId: String, workflowId: String, workflowOwner: String, error: String, at: Date }
        struct Mode: Encodable { var mode: String, sessions: Int64, failed: Int64, errorRate: Double }
        struct ErrorCount: Encodable {
            /// `failed:<code>` for sessions that ended in error, `resumed:<reason>` for stream interruptions.
            var code: String
            var count: Int64
            /// Per session started in the same 24 hours.
            var rate: Double
        }
        struct Health: Encodable { var healthy: Bool, problems: [String] }
        var activeSessions: [Active]
        var recentFailures: [Failure]
        var modes: [Mode]
        /// The automatic rollback's window says streaming fails more than its
        /// threshold above polling (it turns streaming off when this is true).
        var rollbackAdvised: Bool
        /// The automatic rollback's figures now, and its last flip.
        var rollback: Rollback
        struct Rollback: Encodable {
            var enabled: Bool
            var verdict: AutomaticRollback.Verdict
            var lastAutomatic: FeatureFlags.Change?
        }
        var providerErrors: [ErrorCount]
        var flags: FlagRoutes.FlagsView
        var flagHistory: [FeatureFlags.Change]
        var health: Health
        /// Sessions whose read-model row is behind their log head (0 when the inline projection is current).
        var projectionLag: Int64
        /// The asynchronous read models: version, checkpoint, events behind the log.
        var projections: [Projection]
        var logPosition: Int64
        var sseClients: Int
        /// Usage limits and the users closest to them.
        var usage: UsageReport
        /// What was spent this budget period, by whom, against the budgets.
        var spending: SpendingReport
        /// The other rollback triggers, against their thresholds (this instance, last hour).
        var triggers: [RollbackTriggers.Trigger]
        /// The last day hour by hour, for the page's charts.
        var history: History
        struct History: Encodable {
            /// This instance's latencies (p50 and p95 of each hour that saw any).
            var timeToFirstContent: [HourlyLatencyHistory.Hour]
            var delivery: [HourlyLatencyHistory.Hour]
            var append: [HourlyLatencyHistory.Hour]
            /// Every instance's sessions, from the read model: started per hour and mode, and how many failed.
            var sessions: [SessionHour]
        }
        struct SessionHour: Encodable { var start: Date, mode: String, sessions: Int64, failed: Int64, failureRate: Double }
    }

    /// The charts' figures: latencies from this process, sessions from the read model.
    func lastDay() async throws -> Report.History {
        let sessions = try await pool.query(
            """
            SELECT extract(epoch FROM date_trunc('hour', created_at))::float8, mode, count(*), count(*) FILTER (WHERE status = 'failed')
              FROM outline_session_rows WHERE created_at > now() - interval '24 hours' GROUP BY 1, 2 ORDER BY 1, 2
            """
        ).map { row in
            let started = try row.decode(Int64.self, at: 2), failed = try row.decode(Int64.self, at: 3)
            return Report.SessionHour(start: Date(timeIntervalSince1970: try row.decode(Double.self, at: 0)), mode: try row.decode(String.self, at: 1),
                                      sessions: started, failed: failed, failureRate: started == 0 ? 0 : Double(failed) / Double(started))
        }
        let signals = LiveSignals.shared
        return Report.History(timeToFirstContent: signals.lastDay(.timeToFirstContent), delivery: signals.lastDay(.delivery),
                              append: signals.lastDay(.append), sessions: sessions)
    }

    func report() async throws -> Report {
        let active = try await pool.query(
            """
            SELECT s.id, s.workflow_id, s.progress_phase, s.mode, s.status, l.owner, extract(epoch FROM now() - l.acquired_at)::float8,
                   s.last_provider_sequence, extract(epoch FROM now() - s.last_event_at)::float8, coalesce(to_jsonb(a)::text, '{}'),
                   s.workflow_owner
              FROM outline_session_rows s
              LEFT JOIN outline_session_leases l ON l.session_id = s.id
              LEFT JOIN outline_session_activity a ON a.session_id = s.id
             WHERE s.is_active ORDER BY s.started_at DESC LIMIT 200
            """
        ).map { row in
            // The view's columns depend on the live version: read them by name.
            let activity = (try JSONSerialization.jsonObject(with: Data(try row.decode(String.self, at: 9).utf8)) as? [String: Any]) ?? [:]
            func number(_ key: String) -> Int64? { (activity[key] as? NSNumber)?.int64Value }
            return Report.Active(sessionId: try row.decode(UUID.self, at: 0).uuidString.lowercased(), workflowId: try row.decode(String.self, at: 1),
                          workflowOwner: try row.decode(String.self, at: 10),
                          phase: try row.decode(String.self, at: 2), mode: try row.decode(String.self, at: 3), status: try row.decode(String.self, at: 4),
                          leaseOwner: try row.decode(String?.self, at: 5), leaseAgeSeconds: try row.decode(Double?.self, at: 6),
                          lastProviderSequence: try row.decode(Int32?.self, at: 7), secondsSinceLastEvent: try row.decode(Double.self, at: 8),
                          events: number("events") ?? 0, bytes: number("raw_bytes") ?? 0,
                          storedBytes: number("stored_bytes"), contentEvents: number("content_events"), resumes: number("resumes"))
        }
        let failures = try await pool.query(
            "SELECT id, workflow_id, coalesce(error_message, ''), updated_at, workflow_owner FROM outline_session_rows WHERE status = 'failed' ORDER BY updated_at DESC LIMIT 20"
        ).map { row in
            Report.Failure(sessionId: try row.decode(UUID.self, at: 0).uuidString.lowercased(), workflowId: try row.decode(String.self, at: 1),
                           workflowOwner: try row.decode(String.self, at: 4),
                           error: try row.decode(String.self, at: 2), at: try row.decode(Date.self, at: 3))
        }
        let modes = try await pool.query(
            """
            SELECT mode, count(*), count(*) FILTER (WHERE status = 'failed') FROM outline_session_rows
             WHERE created_at > now() - interval '24 hours' GROUP BY mode ORDER BY mode
            """
        ).map { row in
            let sessions = try row.decode(Int64.self, at: 1), failed = try row.decode(Int64.self, at: 2)
            return Report.Mode(mode: try row.decode(String.self, at: 0), sessions: sessions, failed: failed, errorRate: sessions == 0 ? 0 : Double(failed) / Double(sessions))
        }
        let rate = { (mode: String) in modes.first { $0.mode == mode } }
        _ = rate
        let verdict = try await parts.rollback.judge()
        let history = try await parts.flags.history(limit: 200)
        let errors = try await problems()
        let health = try await SchemaHealth.check(migrator)
        let lag = try await pool.query(
            "SELECT count(*) FROM outline_event_streams h JOIN outline_session_rows r ON r.id = h.session_id WHERE r.last_event_sequence <> h.head_sequence"
        )[0].decode(Int64.self, at: 0)
        return Report(activeSessions: active, recentFailures: failures, modes: modes, rollbackAdvised: verdict.tripped,
                      rollback: Report.Rollback(enabled: parts.rollback.settings.enabled, verdict: verdict,
                                                lastAutomatic: history.first { $0.changedBy == AutomaticRollback.changedBy }),
                      providerErrors: errors,
                      flags: FlagRoutes.FlagsView(try await parts.flags.current()), flagHistory: try await parts.flags.history(limit: 20),
                      health: Report.Health(healthy: health.isHealthy, problems: health.problems), projectionLag: lag,
                      projections: try await ProjectionRegistry.states(pool).map {
                          Report.Projection(name: $0.state.name, version: $0.state.version, table: $0.state.tableName, checkpoint: $0.state.checkpoint, lag: $0.lag)
                      },
                      logPosition: try await parts.store.lastPosition(), sseClients: parts.hub.clientCount,
                      usage: try await UsageReport.read(pool, limits: parts.limits.limits, openStreams: parts.streamGate.openByUser),
                      spending: try await SpendingReport.read(pool, budgets: parts.spending.budgets),
                      triggers: RollbackTriggers.read().triggers, history: try await lastDay())
    }

    /// Provider and runner problems of the last 24 hours from the log itself
    /// (a partial index keeps this off the deltas): failures by code, resumes by
    /// reason, each with its rate per session started.
    func problems() async throws -> [Report.ErrorCount] {
        let rows = try await pool.query(
            """
            SELECT \(EventStore.selectColumns) FROM outline_events e
             WHERE event_type IN ('session.failed', 'session.resumed') AND recorded_at > now() - interval '24 hours'
               AND NOT EXISTS (SELECT 1 FROM outline_compacted_sessions c WHERE c.session_id = e.session_id AND e.sequence <= c.covered_through)
             ORDER BY recorded_at DESC LIMIT 10000
            """
        )
        var events = try rows.map(EventStore.decode)
        // Compacted sessions: each names its problem events, read back from its segments.
        let compacted = try await pool.query(
            """
            SELECT c.session_id, p.sequence FROM outline_compacted_sessions c, unnest(c.problem_sequences) AS p(sequence)
             WHERE c.problem_sequences <> '{}' AND c.compacted_at > now() - interval '24 hours'
               AND NOT EXISTS (SELECT 1 FROM outline_removed_sessions x WHERE x.session_id = c.session_id)
             LIMIT 10000
            """
        )
        let dayAgo = Date().addingTimeInterval(-86_400)
        for row in compacted {
            let session = try row.decode(UUID.self, at: 0)
            if let event = try await parts.store.read(session: session, after: try row.decode(Int32.self, at: 1) - 1, limit: 1).first,
               event.recordedAt > dayAgo {
                events.append(event)
            }
        }
        // A session compacted between the two queries shows up in both: count each event once.
        var seen = Set<String>()
        events = events.filter { seen.insert("\($0.sessionID)/\($0.sequence)").inserted }
        var counts: [String: Int64] = [:]
        for recorded in events {
            switch recorded.event {
            case .failed(let failed): counts["failed:" + failed.code, default: 0] += 1
            case .resumed(let resumed): counts["resumed:" + resumed.reason, default: 0] += 1
            default: break
            }
        }
        let sessions = try await pool.query("SELECT count(*) FROM outline_session_rows WHERE created_at > now() - interval '24 hours'")[0].decode(Int64.self, at: 0)
        return counts.sorted { $0.value > $1.value }.map { Report.ErrorCount(code: $0.key, count: $0.value, rate: sessions == 0 ? 0 : Double($0.value) / Double(sessions)) }
    }
}
