import EventLog
import Foundation
import Logging
import PostgresClient

/// Builds `session_activity` at a chosen version into a fresh table from the log
/// while the live one keeps serving and appends go on, then verifies it, swaps
/// it in, or (dry run) only reports how it differs.
///
/// The bulk is read without holding anything. The last stretch runs holding the
/// registry row's lock: the projector skips its batches meanwhile, so the fresh
/// table, the view and the checkpoint change together and the projector picks
/// up after exactly the last event the rebuild folded.
public struct SessionActivityRebuild: Sendable {
    public enum Mode: Sendable, Equatable {
        /// Build, compare with the live table at one point of the log, drop the build.
        case dryRun
        /// Build and swap in; with `verify`, refuse the swap if a shared column differs.
        case swap(verify: Bool)
    }

    public struct Report: Sendable {
        public var version: Int
        public var previousVersion: Int
        public var table: String
        public var eventsFolded: Int64
        public var sessions: Int
        public var seconds: Double
        /// Shared columns of the live and rebuilt rows that differ (nil when not compared).
        public var differences: [ReadModelDifference]?
        public var comparedColumns: [String]
        public var swapped: Bool
        public var checkpoint: Int64
        public var eventsPerSecond: Double { seconds > 0 ? Double(eventsFolded) / seconds : 0 }
    }

    public let pool: PostgresPool
    public let version: SessionActivityVersion
    public var pageSize: Int
    private let logger: Logger

    public init(pool: PostgresPool, version: SessionActivityVersion = .latest, pageSize: Int = 50_000,
                logger: Logger = Logger(label: "outlinestream.rebuild")) {
        self.pool = pool
        self.version = version
        self.pageSize = pageSize
        self.logger = logger
    }

    public func run(_ mode: Mode, progress: (@Sendable (RebuildProgress) -> Void)? = nil) async throws -> Report {
        let started = Date()
        let table = "outline_session_activity_v\(version.number)_\(String(UInt32.random(in: 0x1000_0000...UInt32.max), radix: 16))"
        try await pool.query(version.createTable(table))
        do {
            return try await build(into: table, mode: mode, started: started, progress: progress)
        } catch {
            _ = try? await pool.query("DROP TABLE IF EXISTS \(table)")
            throw error
        }
    }

    private func build(into table: String, mode: Mode, started: Date, progress: (@Sendable (RebuildProgress) -> Void)?) async throws -> Report {
        let version = version, pageSize = pageSize
        var position: Int64 = 0
        var folded: Int64 = 0
        var pending = SessionActivityTally()
        var sessions = Set<UUID>()
        // Bulk and catch-up rounds: nothing locked, the live table keeps serving.
        for round in 0..<6 {
            let head = try await headPosition()
            if round > 0 && head - position < Int64(pageSize) { break }
            while position < head {
                let start = position
                let tally = try await pool.withConnection { connection in
                    try await connection.run { try SessionActivityTally.read(after: start, upTo: head, limit: pageSize, on: $0) }
                }
                if tally.events == 0 { break }
                position = tally.lastPosition
                folded += tally.events
                sessions.formUnion(tally.totals.keys)
                pending.merge(tally)
                if pending.totals.count >= 20_000 { try await flush(&pending, into: table) }
                progress?(RebuildProgress(eventsRead: position, eventsTotal: head, elapsed: Date().timeIntervalSince(started)))
            }
            try await flush(&pending, into: table)
        }
        let bulkEnd = position, foldedBeforeFinal = folded
        let knownSessions = sessions
        // The final stretch, holding the registry row.
        let outcome = try await pool.withConnection { connection in
            try await connection.run { connection -> (Report, Bool) in
                try connection.execute("BEGIN")
                do {
                    var finished = try Self.finish(table: table, version: version, from: bulkEnd, mode: mode, on: connection)
                    finished.report.eventsFolded += foldedBeforeFinal
                    finished.report.sessions = knownSessions.union(finished.sessionIDs).count
                    // Only a swap commits: a dry run leaves the live table and checkpoint as they were.
                    let commit = finished.report.swapped
                    try connection.execute(commit ? "COMMIT" : "ROLLBACK")
                    return (finished.report, commit)
                } catch {
                    try? connection.execute("ROLLBACK")
                    throw error
                }
            }
        }
        var report = outcome.0
        if !outcome.1 { try await pool.query("DROP TABLE IF EXISTS \(table)") }
        report.seconds = Date().timeIntervalSince(started)
        if report.swapped {
            logger.info("swapped in a rebuilt projection", metadata: ["projection": "\(SessionActivityProjector.name)", "version": "\(version.number)", "table": "\(table)"])
        }
        return report
    }

    private struct Finished {
        var report: Report
        /// Sessions the final stretch touched.
        var sessionIDs: Set<UUID>
    }

    private static func finish(table: String, version: SessionActivityVersion, from position: Int64, mode: Mode,
                               on connection: isolated PostgresConnection) throws -> Finished {
        guard let live = try ProjectionRegistry.lock(SessionActivityProjector.name, skipLocked: false, on: connection) else {
            throw ProjectionError.notInstalled(name: SessionActivityProjector.name)
        }
        let head = try connection.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
        // The rest of the log into the new table.
        let rest = try SessionActivityTally.read(after: position, upTo: head, limit: Int.max, on: connection)
        try rest.write(into: table, version: version, on: connection)
        var differences: [ReadModelDifference]?
        var compared: [String] = []
        let verify: Bool
        switch mode {
        case .dryRun: verify = true
        case .swap(let wanted): verify = wanted
        }
        if verify {
            // Bring the live table to the same point (its own version's fold), then compare.
            let liveVersion = try SessionActivityVersion.number(live.version)
                .orThrow(ProjectionError.unknownVersion(name: SessionActivityProjector.name, version: live.version))
            let behind = try SessionActivityTally.read(after: live.checkpoint, upTo: head, limit: Int.max, on: connection)
            try behind.write(into: live.tableName, version: liveVersion, on: connection)
            compared = version.columnNames.filter { liveVersion.columnNames.contains($0) && $0 != "session_id" }
            differences = try compare(live: live.tableName, rebuilt: table, columns: compared, on: connection)
        }
        var swapped = false
        if case .swap = mode {
            if let differences, !differences.isEmpty { throw ProjectionError.verifyFailed(differences: differences.count) }
            try connection.execute("DROP VIEW outline_session_activity")
            try connection.execute("CREATE VIEW outline_session_activity AS SELECT * FROM \(table)")
            try connection.query("UPDATE outline_projections SET version = $2, table_name = $3, checkpoint = $4, updated_at = now() WHERE name = $1",
                                 SessionActivityProjector.name, Int32(version.number), table, head)
            try connection.execute("DROP TABLE \(live.tableName)")
            swapped = true
        }
        let report = Report(version: version.number, previousVersion: live.version, table: table, eventsFolded: rest.events, sessions: 0,
                            seconds: 0, differences: differences, comparedColumns: compared, swapped: swapped, checkpoint: head)
        return Finished(report: report, sessionIDs: Set(rest.totals.keys))
    }

    private static func compare(live: String, rebuilt: String, columns: [String], on connection: isolated PostgresConnection) throws -> [ReadModelDifference] {
        let object = "jsonb_build_object(" + columns.map { "'\($0)', \($0)" }.joined(separator: ", ") + ")"
        let rows = try connection.query(
            """
            WITH l AS (SELECT session_id, \(object) AS j FROM \(live)), r AS (SELECT session_id, \(object) AS j FROM \(rebuilt))
            SELECT coalesce(l.session_id, r.session_id), l.j::text, r.j::text FROM l FULL JOIN r ON l.session_id = r.session_id
             WHERE l.j IS DISTINCT FROM r.j ORDER BY 1 LIMIT 1000
            """
        )
        return try rows.map {
            try ReadModelDifference.compare(id: try $0.decode(UUID.self, at: 0), live: try $0.decode(String?.self, at: 1), rebuilt: try $0.decode(String?.self, at: 2))
        }
    }

    private func headPosition() async throws -> Int64 {
        try await pool.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
    }

    private func flush(_ pending: inout SessionActivityTally, into table: String) async throws {
        guard !pending.totals.isEmpty else { return }
        let batch = pending, version = version
        try await pool.withConnection { connection in
            try await connection.run { try batch.write(into: table, version: version, on: $0) }
        }
        pending = SessionActivityTally()
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> some Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
