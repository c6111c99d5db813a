import ArgumentParser
import EventLog
import Foundation
import OutlineProjections

struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "List read models, rebuild them from the log, introduce new versions.",
        subcommands: [List.self, Rebuild.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show each asynchronous read model: live version, table, checkpoint and lag.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let states = try await database.withPool { try await ProjectionRegistry.states($0) }
            print("outline_sessions      inline (folded in every append transaction; never behind)")
            for (state, lag) in states {
                let known = SessionActivityVersion.all.map { "v\($0.number)" }.joined(separator: ", ")
                print("\(state.name.padding(toLength: 20, withPad: " ", startingAt: 0))  v\(state.version) in \(state.tableName), checkpoint \(state.checkpoint), \(lag) event(s) behind; this build knows \(known)")
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a read model from the log while the service keeps appending.",
            discussion: """
                outline_sessions (default): rebuilt into outline_sessions_rebuild. --verify compares it with the live \
                read model at one point of the log and exits 1 on differences; --swap replaces the live tables \
                (appends made meanwhile are caught up); --dry-run compares and drops the rebuild.

                session_activity: built at --version (default: the newest this build knows) into a fresh table; \
                --swap points the view and the projector at it in one transaction (a new version goes live with \
                zero downtime), --verify first compares the columns both versions share and refuses the swap on \
                a difference; --dry-run compares and drops the build, changing nothing.
                """
        )
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "outline_sessions or session_activity") var projection = "outline_sessions"
        @Flag(help: "compare the rebuilt rows with the live ones and report differences") var verify = false
        @Flag(help: "replace the live read model with the rebuilt one") var swap = false
        @Flag(help: "rebuild, compare, report, and drop the rebuild: change nothing") var dryRun = false
        @Option(help: "session_activity only: the version to build") var version: Int?
        @Option(help: "events read per query") var pageSize = 50_000

        func validate() throws {
            guard ["outline_sessions", SessionActivityProjector.name].contains(projection) else {
                throw ValidationError(ProjectionError.unknownProjection(projection).description)
            }
            if dryRun && swap { throw ValidationError("--dry-run and --swap exclude each other") }
            if let version {
                guard projection == SessionActivityProjector.name else { throw ValidationError("--version applies to session_activity only") }
                guard SessionActivityVersion.number(version) != nil else {
                    throw ValidationError("session_activity has no version \(version); this build knows \(SessionActivityVersion.all.map { String($0.number) }.joined(separator: ", "))")
                }
            }
            if projection == SessionActivityProjector.name && !dryRun && !swap {
                throw ValidationError("session_activity is rebuilt with --dry-run (compare only) or --swap [--verify]")
            }
            guard pageSize >= 100 else { throw ValidationError("--page-size must be at least 100") }
        }

        func run() async throws {
            if projection == SessionActivityProjector.name { try await rebuildActivity() } else { try await rebuildSessions() }
        }

        private func rebuildSessions() async throws {
            let report = try await database.withPool { pool in
                let rebuild = try OutlineSessionsRebuild(pool: pool, pageSize: pageSize, logger: AdminLogging.logger)
                let progress = ProgressBox()
                return try await rebuild.run(verify: verify, swap: swap, dryRun: dryRun) { update in progress.show(update) }
            }
            print(String(format: "rebuilt %d sessions from %lld events in %.2f s (%.0f events/s)",
                         report.sessions, report.eventsFolded, report.seconds, report.eventsPerSecond))
            if let differences = report.differences { Self.show(differences, against: "live outline_sessions") }
            if report.swapped { print("swapped: outline_sessions is now the rebuilt table") }
            if dryRun { print("dry run: the rebuild was dropped; nothing changed") }
            if let differences = report.differences, !differences.isEmpty, !report.swapped { throw ExitCode(1) }
        }

        private func rebuildActivity() async throws {
            let target = version.flatMap(SessionActivityVersion.number) ?? .latest
            let report = try await database.withPool { pool in
                var rebuild = SessionActivityRebuild(pool: pool, version: target, logger: AdminLogging.logger)
                rebuild.pageSize = pageSize
                let progress = ProgressBox()
                return try await rebuild.run(dryRun ? .dryRun : .swap(verify: verify)) { update in progress.show(update) }
            }
            print(String(format: "built session_activity v%d (%@) from %lld events, %d sessions, in %.2f s (%.0f events/s)",
                         report.version, target.summary as NSString, report.eventsFolded, report.sessions, report.seconds, report.eventsPerSecond))
            if let differences = report.differences {
                print("compared with live v\(report.previousVersion) at log position \(report.checkpoint) on: \(report.comparedColumns.joined(separator: ", "))")
                Self.show(differences, against: "live v\(report.previousVersion)")
            }
            if report.swapped {
                print("swapped: outline_session_activity now reads \(report.table) (v\(report.previousVersion) → v\(report.version)); the projector continues from position \(report.checkpoint)")
            } else {
                print("dry run: the build was dropped; nothing changed")
                if let differences = report.differences, !differences.isEmpty { throw ExitCode(1) }
            }
        }

        static func show(_ differences: [ReadModelDifference], against live: String) {
            if differences.isEmpty {
                print("verified: the rebuilt read model equals the \(live)")
                return
            }
            print("\(differences.count) session(s) differ from the \(live):")
            for difference in differences.prefix(50) {
                print("  \(difference.sessionID.uuidString.lowercased()): \(difference.kind.rawValue)")
                for column in difference.columns {
                    print("    \(column.name): live \(column.live.prefix(80)) | rebuilt \(column.rebuilt.prefix(80))")
                }
            }
            if differences.count > 50 { print("  … and \(differences.count - 50) more") }
        }
    }
}

/// Shows rebuild progress from whichever task reports it.
final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var line = ProgressLine()

    func show(_ progress: RebuildProgress) {
        lock.lock()
        defer { lock.unlock() }
        let percent = progress.eventsTotal > 0 ? Double(progress.eventsRead) * 100 / Double(progress.eventsTotal) : 100
        let left = progress.secondsLeft.map { String(format: "%.0f s left", $0) } ?? ""
        line.show(String(format: "rebuilding: %lld / %lld events (%.0f%%), %.0f events/s %@",
                         progress.eventsRead, progress.eventsTotal, percent, progress.eventsPerSecond, left as NSString),
                  final: progress.eventsRead >= progress.eventsTotal)
    }
}
