import Foundation
import Hummingbird
import Metrics
import NIOCore
import PostgresClient
import Prometheus

/// `GET /metrics` in Prometheus text format. The gauges that describe the
/// database (active sessions) are read at scrape time; the rest are kept by
/// the parts that count them (log, runner, hub, routes).
struct MetricsRoutes: Sendable {
    let registry: PrometheusCollectorRegistry
    let pool: PostgresPool
    let limits: UsageLimits
    let budgets: SpendingBudgets
    let openStreams: @Sendable () -> [String: Int]
    private let activeSessions = Gauge(label: "outline_active_sessions")

    init(registry: PrometheusCollectorRegistry, pool: PostgresPool, limits: UsageLimits, budgets: SpendingBudgets, openStreams: @escaping @Sendable () -> [String: Int]) {
        self.registry = registry
        self.pool = pool
        self.limits = limits
        self.budgets = budgets
        self.openStreams = openStreams
    }

    func register(on router: Router<OutlineRequestContext>) {
        router.get("/metrics") { _, _ in
            if let count = try? await pool.query("SELECT count(*) FROM outline_sessions WHERE is_active").first?.decode(Int64.self, at: 0) {
                activeSessions.record(count)
            }
            (try? await UsageReport.read(pool, limits: limits, openStreams: openStreams()))?.record()
            (try? await SpendingReport.read(pool, budgets: budgets))?.record()
            RollbackTriggers.read().record()
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return JSONResponse.bytes(buffer, contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
    }
}
