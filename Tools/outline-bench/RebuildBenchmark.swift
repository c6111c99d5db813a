import Foundation
import Logging
import OutlineProjections
import PostgresClient

/// Folds the whole log into a fresh outline_sessions table, as `projections rebuild` does.
struct RebuildBenchmark {
    func run(pool: PostgresPool, logger: Logger) async throws {
        let rebuild = try OutlineSessionsRebuild(pool: pool, logger: logger)
        let report = try await rebuild.run(verify: false, swap: false)
        print(String(format: "rebuild: %lld events into %d sessions in %.2f s = %.0f events/s",
                     report.eventsFolded, report.sessions, report.seconds, report.eventsPerSecond))
    }
}
