import Foundation
import Logging
import PostgresClient
#if canImport(Glibc)
import Glibc
#endif

/// What one PostgreSQL server (the primary or a standby) did for one database,
/// read from its own statistics: transactions, statements (pg_stat_statements,
/// loaded by `Tools/dev/postgres.sh`), inserted rows, the CPU of its processes
/// and its client connections by `application_name`. Two snapshots around a
/// window give that window's load.
struct DatabaseServerProbe: Sendable {
    /// A connection to the server's service database (where pg_stat_statements is installed).
    let pool: PostgresPool
    /// The database whose load is measured (the run's scratch database).
    let database: String
    /// The postmaster: its process and its children are the server's CPU.
    let postmaster: Int32

    struct Snapshot {
        var transactions: Int64 = 0
        /// nil: pg_stat_statements is not loaded on this server.
        var statements: Int64?
        var insertedRows: Int64 = 0
        var cpuSeconds = 0.0
        /// Calls by statement (pg_stat_statements' queryid), with the statement's text.
        var calls: [Int64: (calls: Int64, text: String)] = [:]

        /// The statements called most often between `earlier` and this snapshot.
        func busiest(since earlier: Snapshot, count: Int) -> [(calls: Int64, text: String)] {
            calls.map { (id, entry) in (entry.calls - (earlier.calls[id]?.calls ?? 0), entry.text) }
                .filter { $0.0 > 0 }.sorted { $0.0 > $1.0 }.prefix(count).map { $0 }
        }
    }

    static func connect(_ settings: ConnectionSettings, measuring database: String, logger: Logger) async throws -> DatabaseServerProbe {
        let pool = PostgresPool(settings: settings, maximumConnections: 1, logger: logger)
        let backend = try await pool.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0)
        guard let postmaster = parent(of: backend) else {
            await pool.shutdown()
            throw LoadError("PostgreSQL at \(settings) is not on this host (backend \(backend) not in /proc): its CPU cannot be measured")
        }
        return DatabaseServerProbe(pool: pool, database: database, postmaster: postmaster)
    }

    func snapshot() async throws -> Snapshot {
        var snapshot = Snapshot()
        let row = try await pool.query("SELECT xact_commit + xact_rollback, tup_inserted FROM pg_stat_database WHERE datname = $1", database)[0]
        snapshot.transactions = try row.decode(Int64.self, at: 0)
        snapshot.insertedRows = try row.decode(Int64.self, at: 1)
        if let rows = try? await pool.query(
            "SELECT queryid, calls, regexp_replace(left(query, 200), '\\s+', ' ', 'g') FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND queryid IS NOT NULL", database) {
            for row in rows { snapshot.calls[try row.decode(Int64.self, at: 0)] = (try row.decode(Int64.self, at: 1), try row.decode(String.self, at: 2)) }
            snapshot.statements = snapshot.calls.values.reduce(0) { $0 + $1.calls }
        }
        snapshot.cpuSeconds = Self.processes(of: postmaster).reduce(0) { $0 + LoadStack.cpuSeconds(pid: $1) }
        return snapshot
    }

    /// Client connections to the database now, by application_name.
    func connections() async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await pool.query("SELECT application_name, count(*)::int8 FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' GROUP BY 1", database) {
            counts[try row.decode(String.self, at: 0)] = Int(try row.decode(Int64.self, at: 1))
        }
        return counts
    }

    func close() async { await pool.shutdown() }

    static func parent(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// The postmaster and every process it started (backends, WAL writer, walsender, replay).
    static func processes(of postmaster: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return [postmaster] + entries.compactMap(Int32.init).filter { parent(of: $0) == postmaster }
    }
}

/// The largest connection counts seen while a window was open, sampled every 250 ms.
final class ConnectionPeaks: @unchecked Sendable {
    // Written only by the sampling task, read after it ended (`stop` awaits it).
    private var peaks: [String: Int] = [:]
    private var task: Task<Void, Never>?

    func start(_ probe: DatabaseServerProbe) {
        task = Task {
            while !Task.isCancelled {
                if let now = try? await probe.connections() {
                    for (name, count) in now { self.peaks[name] = max(self.peaks[name] ?? 0, count) }
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    func stop() async -> [String: Int] {
        task?.cancel()
        await task?.value
        return peaks
    }
}
