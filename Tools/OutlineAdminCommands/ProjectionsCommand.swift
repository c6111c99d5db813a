import ArgumentParser
import EventLog
import Foundation
import OutlineProjections

struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "Rebuild read models from the log.",
        subcommands: [Rebuild.self]
    )

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild outline_sessions from the log into a fresh table.",
            discussion: """
                Without flags the rebuilt table is left beside the live one (outline_sessions_rebuild).
                --verify compares them row by row and exits 1 if any row differs.
                --swap replaces the live table; appends keep going, and those made meanwhile are caught up.
                """
        )
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "compare the rebuilt rows with the live ones and report differences") var verify = false
        @Flag(help: "replace the live table with the rebuilt one") var swap = false
        @Option(help: "events read per query") var pageSize = 20_000

        func run() async throws {
            let report = try await database.withPool { pool in
                let rebuild = try OutlineSessionsRebuild(pool: pool, pageSize: pageSize, logger: AdminLogging.logger)
                let progress = ProgressBox()
                return try await rebuild.run(verify: verify, swap: swap) { update in progress.show(update) }
            }
            print(String(format: "rebuilt %d sessions from %lld events in %.2f s (%.0f events/s)",
                         report.sessions, report.eventsFolded, report.seconds, report.eventsPerSecond))
            if let differences = report.differences {
                if differences.isEmpty {
                    print("verified: the rebuilt read model equals the live one")
                } else {
                    print("\(differences.count) session(s) differ:")
                    for difference in differences.prefix(50) {
                        print("  \(difference.sessionID.uuidString.lowercased()): \(difference.kind.rawValue)")
                        for column in difference.columns {
                            print("    \(column.name): live \(column.live.prefix(80)) | rebuilt \(column.rebuilt.prefix(80))")
                        }
                    }
                }
            }
            if report.swapped { print("swapped: outline_sessions is now the rebuilt table") }
            if let differences = report.differences, !differences.isEmpty, !report.swapped { throw ExitCode(1) }
        }
    }
}

/// Shows rebuild progress from whichever task reports it.
final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var line = ProgressLine()

    func show(_ progress: OutlineSessionsRebuild.Progress) {
        lock.lock()
        defer { lock.unlock() }
        let percent = progress.eventsTotal > 0 ? Double(progress.eventsRead) * 100 / Double(progress.eventsTotal) : 100
        let left = progress.secondsLeft.map { String(format: "%.0f s left", $0) } ?? ""
        line.show(String(format: "rebuilding: %lld / %lld events (%.0f%%), %.0f events/s %@",
                         progress.eventsRead, progress.eventsTotal, percent, progress.eventsPerSecond, left as NSString),
                  final: progress.eventsRead >= progress.eventsTotal)
    }
}
