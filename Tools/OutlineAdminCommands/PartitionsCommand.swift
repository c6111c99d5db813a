import ArgumentParser
import EventLog
import Foundation

/// `outline-admin partitions`: the hot log's position-range partitions.
struct PartitionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partitions",
        abstract: "List, size and drop the hot log's partitions.",
        subcommands: [List.self, Size.self, Ensure.self, Drop.self, Audit.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every partition: range, rows (estimated), closed or open, dropped when.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (partitions, droppable, size) = try await database.withPool { pool in
                let manager = LogPartitions(pool: pool, logger: AdminLogging.logger)
                return (try await manager.list(), Set(try await manager.droppable().map(\.name)), try await manager.size())
            }
            print("partition size: \(size) positions")
            for p in partitions {
                let state = p.droppedAt.map { "dropped \(TimestampText.format($0))" }
                    ?? (droppable.contains(p.name) ? "closed, every row compacted: droppable" : (p.isClosed ? "closed" : "open"))
                print("\(p.name)  positions \(p.firstPosition)…\(p.lastPosition)  ~\(p.estimatedRows) rows  \(state)")
            }
        }
    }

    struct Size: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set how many positions a new partition spans (on an empty log, its empty partitions are replaced).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "positions per partition (1…1000000000)") var positions: Int64

        func validate() throws {
            guard (1...1_000_000_000).contains(positions) else { throw ValidationError("positions must be between 1 and 1000000000") }
        }

        func run() async throws {
            try await database.withPool { pool in try await LogPartitions(pool: pool, logger: AdminLogging.logger).setSize(positions) }
            print("new partitions span \(positions) positions")
        }
    }

    struct Ensure: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create partitions until a whole empty one lies ahead of the appends.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let created = try await database.withPool { pool in try await LogPartitions(pool: pool, logger: AdminLogging.logger).ensureAhead() }
            print(created.isEmpty ? "a partition is ready ahead already" : "created \(created.joined(separator: ", "))")
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop closed partitions whose every row lives in verified segments (DDL, never row deletes), each with an audit record.",
            discussion: """
                A partition is dropped only if every position in it was handed out, every row of it is covered by a
                compacted session's segments, and every session in it verifies from its segments. The audit record
                (outline-admin partitions audit) names the range, the sessions, the events and each segment's digest.
                Refusals change nothing and exit 1.
                """
        )
        @OptionGroup var database: DatabaseOptions
        @Option(help: "the partition to drop (outline_events_p…)") var name: String?
        @Flag(help: "drop every droppable partition") var allDroppable = false
        @Option(help: "why (recorded in the audit stream)") var reason: String
        @Option(help: "who (recorded; default $USER)") var by: String?

        func validate() throws {
            guard (name != nil) != allDroppable else { throw ValidationError("pass either --name or --all-droppable") }
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
        }

        func run() async throws {
            let actor = by ?? ProcessInfo.processInfo.environment["USER"] ?? "operator"
            let refused = try await database.withPool { pool -> Bool in
                let manager = LogPartitions(pool: pool, logger: AdminLogging.logger)
                let names: [String]
                if let name { names = [name] } else { names = try await manager.droppable().map(\.name) }
                if names.isEmpty { print("no partition is droppable (closed and wholly compacted)") }
                var refused = false
                for name in names {
                    let started = ContinuousClock.now
                    do {
                        let dropped = try await manager.drop(name, actor: actor, reason: reason)
                        print("dropped \(name): positions \(dropped.firstPosition)…\(dropped.lastPosition), \(dropped.events) events of \(dropped.sessions) sessions, now only in \(dropped.segments.count) segments (\(ContinuousClock.now - started))")
                    } catch let refusal as LogPartitions.Refusal {
                        print("REFUSED: \(refusal)")
                        refused = true
                    }
                }
                return refused
            }
            if refused { throw ExitCode(1) }
        }
    }

    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The log's audit stream (drops, redactions, retention), its chain verified.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (records, verified) = try await database.withPool { pool in
                let audit = LogAudit(pool: pool)
                return (try await audit.records(), try await audit.verify())
            }
            for record in records {
                print("\(record.sequence)  \(TimestampText.format(record.recordedAt))  \(record.kind)  by \(record.actor): \(record.reason)  \(record.details)")
            }
            if let broken = verified.firstBroken {
                print("BROKEN: the audit stream's chain breaks at record \(broken)")
                throw ExitCode(1)
            }
            print("\(verified.records) record(s); the audit chain verifies")
        }
    }
}
