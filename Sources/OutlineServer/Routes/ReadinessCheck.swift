import EventLog
import Metrics
import Synchronization

/// `/readyz`'s schema check, cached: at most one check per `maxAge` whatever
/// the request rate (a load balancer, or an attacker, polling readiness must
/// not become load on the database), and concurrent callers share one check
/// in flight.
final class ReadinessCheck: Sendable {
    struct Result: Sendable {
        var ready: Bool
        /// The error code when not ready: `database_unreachable` or `schema_not_ready`.
        var code: String?
        /// For operators (admin callers) only: what is wrong, the reverted migrations.
        var problems: [String]
        var streamingReverted: [Int]
    }

    private struct State {
        var cached: (result: Result, at: ContinuousClock.Instant)?
        var inFlight: Task<Result, Never>?
    }

    let migrator: Migrator
    let maxAge: Duration
    private let state = Mutex(State())

    init(migrator: Migrator, maxAge: Duration = .seconds(2)) {
        self.migrator = migrator
        self.maxAge = maxAge
    }

    func current() async -> Result {
        // Answered from the cache without a task: the path every poll takes.
        let fresh: Result? = state.withLock { state in
            guard let cached = state.cached, ContinuousClock.now - cached.at < maxAge else { return nil }
            return cached.result
        }
        if let fresh { return fresh }
        let task: Task<Result, Never> = state.withLock { state in
            if let cached = state.cached, ContinuousClock.now - cached.at < maxAge {
                return Task { cached.result }
            }
            if let inFlight = state.inFlight { return inFlight }
            let migrator = self.migrator
            let check = Task { [weak self] in
                let result = await Self.check(migrator)
                self?.state.withLock { state in
                    state.cached = (result, .now)
                    state.inFlight = nil
                }
                return result
            }
            state.inFlight = check
            return check
        }
        return await task.value
    }

    /// Schema checks actually run (not answered from the cache).
    static let checks = Counter(label: "outline_readiness_checks_total")

    private static func check(_ migrator: Migrator) async -> Result {
        checks.increment()
        do {
            let health = try await SchemaHealth.check(migrator)
            guard health.isHealthy else { return Result(ready: false, code: "schema_not_ready", problems: health.problems, streamingReverted: []) }
            return Result(ready: true, code: nil, problems: [], streamingReverted: health.streamingReverted)
        } catch {
            return Result(ready: false, code: "database_unreachable", problems: ["\(error)"], streamingReverted: [])
        }
    }
}
