import EventLog
import Foundation
import OutlineJSON
import Logging
import PostgresClient

/// Rebuilds `outline_sessions` from the log into fresh tables, compares them with
/// the live ones, and swaps them in on request, while appends go on.
///
/// The bulk of the log is folded without blocking anyone. Events that arrive
/// meanwhile are caught up in rounds; the last round runs with the live table
/// locked (appends wait a moment, none is lost), then the tables are swapped in
/// the same transaction. The read model is disposable: rebuilt, never patched.
public struct OutlineSessionsRebuild: Sendable {
    public typealias Progress = RebuildProgress
    public typealias Difference = ReadModelDifference

    public struct Report: Sendable {
        public var eventsFolded: Int64
        public var sessions: Int
        public var seconds: Double
        public var differences: [Difference]?
        public var swapped: Bool
        public var eventsPerSecond: Double { seconds > 0 ? Double(eventsFolded) / seconds : 0 }
    }

    public let pool: PostgresPool
    public let live: OutlineSessionTable
    public let target: OutlineSessionTable
    public var pageSize: Int
    private let logger: Logger

    public init(pool: PostgresPool, live: OutlineSessionTable = .live, pageSize: Int = 20_000, logger: Logger = Logger(label: "outlinestream.rebuild")) throws {
        self.pool = pool
        self.live = live
        self.target = try OutlineSessionTable(name: live.name + "_rebuild")
        self.pageSize = pageSize
        self.logger = logger
    }

    /// Folds the whole log into the rebuild table; with `verify`, compares it with
    /// the live table at one consistent point; with `swap`, replaces the live table.
    /// A `dryRun` verifies and then drops the rebuild: it only reports differences.
    public func run(verify: Bool, swap: Bool, dryRun: Bool = false, progress: (@Sendable (Progress) -> Void)? = nil) async throws -> Report {
        precondition(!(dryRun && swap), "a dry run never swaps")
        let verify = verify || dryRun
        let started = Date()
        try await prepareTargetTable()
        var state = FoldState()
        let total = try await pool.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
        // Bulk: everything committed when we began.
        try await pool.withConnection { connection in
            try await fold(upTo: total, into: &state, on: connection, total: total, started: started, progress: progress)
        }
        try await writeChanged(&state)
        // Catch up with what arrived meanwhile, without locking anyone out.
        for _ in 0..<5 {
            let head = try await pool.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
            if head - state.position < Int64(pageSize) { break }
            try await pool.withConnection { connection in
                try await fold(upTo: head, into: &state, on: connection, total: head, started: started, progress: progress)
            }
            try await writeChanged(&state)
        }
        var differences: [Difference]?
        if verify || swap {
            // The final round: live table locked, so the two can be compared and
            // swapped at one point of the log.
            let finalState = state
            (state, differences) = try await pool.withTransaction { connection in
                var state = finalState
                // The view first, then its tables: the order appenders take them in,
                // so waiting here never closes a cycle.
                try await connection.execute("LOCK TABLE \(live.name), \(live.rowsTable), \(live.textTable) IN \(swap ? "ACCESS EXCLUSIVE" : "SHARE") MODE")
                let head = try await connection.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
                try await fold(upTo: head, into: &state, on: connection, total: head, started: started, progress: progress)
                let changed = state.takeChanged()
                try await connection.run { [target] in try target.upsert(changed, on: $0) }
                let differences = verify ? try await compare(on: connection) : nil
                if swap { try await swapTables(on: connection) }
                return (state, differences)
            }
        }
        if dryRun { try await dropTargetTables() }
        return Report(eventsFolded: state.eventsFolded, sessions: state.rows.count, seconds: Date().timeIntervalSince(started),
                      differences: differences, swapped: swap)
    }

    // MARK: Folding

    struct FoldState: Sendable {
        var position: Int64 = 0
        var eventsFolded: Int64 = 0
        var rows: [UUID: OutlineSessionRow] = [:]
        var changed = Set<UUID>()

        mutating func takeChanged() -> [OutlineSessionRow] {
            defer { changed.removeAll(keepingCapacity: true) }
            return changed.compactMap { rows[$0] }
        }
    }

    private func fold(upTo end: Int64, into state: inout FoldState, on connection: PostgresConnection, total: Int64,
                      started: Date, progress: (@Sendable (Progress) -> Void)?) async throws {
        let scan = LogScan(after: state.position, through: end)
        let pageSize = pageSize
        while state.position < end {
            // Hot rows and compacted segments alike, in position order.
            let page = try await connection.run { try scan.next(limit: pageSize, on: $0) }
            if page.isEmpty { break }
            for (session, stored) in page {
                let recorded = try EventStore.recorded(stored, session: session)
                OutlineSessionFold.apply(recorded.event, sessionID: recorded.sessionID, sequence: recorded.sequence,
                                         recordedAt: recorded.recordedAt, to: &state.rows[recorded.sessionID])
                if state.rows[recorded.sessionID] != nil { state.changed.insert(recorded.sessionID) }
                state.position = recorded.position
                state.eventsFolded += 1
            }
            progress?(Progress(eventsRead: state.position, eventsTotal: total, elapsed: Date().timeIntervalSince(started)))
        }
    }

    private func writeChanged(_ state: inout FoldState) async throws {
        let rows = state.takeChanged()
        for start in stride(from: 0, to: rows.count, by: 1000) {
            let chunk = Array(rows[start..<min(start + 1000, rows.count)])
            try await pool.withConnection { connection in try await connection.run { [target] in try target.upsert(chunk, on: $0) } }
        }
    }

    // MARK: Tables

    /// Creates the empty rebuild tables shaped like the live ones, their indexes
    /// named `<live index>__rebuild` so they take the live names at the swap, and
    /// the view over them.
    private func prepareTargetTable() async throws {
        try await pool.withTransaction { connection in
            try await connection.execute("DROP VIEW IF EXISTS \(target.name)")
            for (liveTable, targetTable) in [(live.rowsTable, target.rowsTable), (live.textTable, target.textTable)] {
                try await connection.execute("DROP TABLE IF EXISTS \(targetTable)")
                try await connection.execute("CREATE TABLE \(targetTable) (LIKE \(liveTable) INCLUDING ALL)")
                let liveIndexes = try await indexes(of: liveTable, on: connection)
                let targetIndexes = try await indexes(of: targetTable, on: connection)
                for (shape, targetName) in targetIndexes {
                    guard let liveName = liveIndexes[shape] else { continue }
                    try await connection.execute("ALTER INDEX \(targetName) RENAME TO \(liveName)__rebuild")
                }
            }
            try await connection.query("SELECT outline_sessions_define_view($1, $2, $3)", target.name, target.rowsTable, target.textTable)
        }
    }

    /// Removes the rebuild view and tables (after a dry run).
    private func dropTargetTables() async throws {
        try await pool.withTransaction { connection in
            try await connection.execute("DROP VIEW IF EXISTS \(target.name)")
            try await connection.execute("DROP TABLE IF EXISTS \(target.rowsTable), \(target.textTable)")
        }
    }

    /// Index shape (uniqueness, method, columns, predicate) to index name.
    private func indexes(of table: String, on connection: PostgresConnection) async throws -> [String: String] {
        let rows = try await connection.query(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass",
            table
        )
        var result: [String: String] = [:]
        for row in rows {
            let name = try row.decode(String.self, at: 0)
            let definition = try row.decode(String.self, at: 1)
            let unique = definition.hasPrefix("CREATE UNIQUE")
            let shape = (unique ? "unique " : "") + (definition.range(of: " USING ").map { String(definition[$0.lowerBound...]) } ?? definition)
            result[shape] = name
        }
        return result
    }

    private func swapTables(on connection: PostgresConnection) async throws {
        var renamed: [String] = []
        for table in [target.rowsTable, target.textTable] {
            renamed += try await indexes(of: table, on: connection).values.filter { $0.hasSuffix("__rebuild") }
        }
        try await connection.execute("DROP VIEW \(target.name)")
        try await connection.execute("DROP VIEW \(live.name)")
        try await connection.execute("DROP TABLE \(live.rowsTable), \(live.textTable)")
        try await connection.execute("ALTER TABLE \(target.rowsTable) RENAME TO \(live.rowsTable)")
        try await connection.execute("ALTER TABLE \(target.textTable) RENAME TO \(live.textTable)")
        for name in renamed {
            try await connection.execute("ALTER INDEX \(name) RENAME TO \(name.dropLast("__rebuild".count))")
        }
        try await connection.query("SELECT outline_sessions_define_view($1, $2, $3)", live.name, live.rowsTable, live.textTable)
        logger.info("swapped the rebuilt read model in", metadata: ["view": "\(live.name)"])
    }

    // MARK: Comparing

    private func compare(on connection: PostgresConnection) async throws -> [Difference] {
        let rows = try await connection.query(
            """
            SELECT coalesce(l.id, r.id), to_jsonb(l)::text, to_jsonb(r)::text
              FROM \(live.name) l FULL JOIN \(target.name) r ON l.id = r.id
             WHERE to_jsonb(l) IS DISTINCT FROM to_jsonb(r)
             ORDER BY 1
            """
        )
        return try rows.map { row in
            try ReadModelDifference.compare(id: try row.decode(UUID.self, at: 0), live: try row.decode(String?.self, at: 1), rebuilt: try row.decode(String?.self, at: 2))
        }
    }
}
