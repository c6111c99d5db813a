import CLibPQ
import Foundation
import Logging

/// One PostgreSQL connection over libpq.
///
/// The actor owns the `PGconn` handle and runs on a `DedicatedThreadExecutor`, so
/// every libpq call, blocking or not, happens on that connection's own thread:
/// the handle is never shared between threads (which is what makes holding a
/// non-Sendable `OpaquePointer` safe) and Swift's cooperative pool never waits on
/// the network. All values travel as binary parameters; results come back in
/// binary format.
public actor PostgresConnection {
    private let executor: DedicatedThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public nonisolated let settings: ConnectionSettings
    private let logger: Logger
    private var connection: LibPQHandle?
    private var handle: OpaquePointer? { connection?.pointer }

    private init(settings: ConnectionSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.executor = DedicatedThreadExecutor(name: "postgres-connection")
    }

    /// Opens a connection; throws a `.connection` error naming the cause when it cannot.
    public static func connect(_ settings: ConnectionSettings, logger: Logger = Logger(label: "outlinestream.postgres")) async throws -> PostgresConnection {
        let connection = PostgresConnection(settings: settings, logger: logger)
        do {
            try await connection.open()
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    deinit {
        executor.shutdown()
    }

    private func open() throws {
        self.connection = nil
        guard let connection = PQconnectdb(settings.conninfo) else {
            throw PostgresError(kind: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmedError(connection)
            PQfinish(connection)
            throw PostgresError(kind: .connection, message: "cannot connect to PostgreSQL at \(settings): \(message)")
        }
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        self.connection = LibPQHandle(connection)
    }

    /// Closes the connection; later calls fail with a `.usage` error.
    public func close() {
        connection = nil
        closed = true
    }

    private var closed = false

    /// True when the connection is open and the server has not gone away.
    ///
    /// Cheap: reads whatever the server already sent (a terminated backend sends
    /// an error and closes the socket) without a round trip.
    public func checkAlive() -> Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
        // An idle connection receives nothing but notices and notifications. A
        // terminated backend sends a FATAL error and then closes: keep reading
        // while there is something to read, and the close shows as a failed read.
        for _ in 0..<8 {
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { break }
            if PQconsumeInput(handle) == 0 { return false }
            while let notify = PQnotifies(handle) { PQfreemem(notify) }
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Makes sure the connection is usable, re-establishing it when the server dropped it.
    public func ensureConnected() throws {
        guard !closed else { throw PostgresError(kind: .usage, message: "the connection was closed") }
        if checkAlive() { return }
        logger.warning("PostgreSQL connection lost; reconnecting", metadata: ["database": "\(settings)"])
        try open()
    }

    /// The server process id of this connection (for `pg_terminate_backend` and diagnostics).
    public func backendPID() throws -> Int32 {
        PQbackendPID(try liveHandle())
    }

    private func liveHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(kind: closed ? .usage : .connection, message: closed ? "the connection was closed" : "not connected")
        }
        return handle
    }

    /// Runs `body` on this connection's own thread, where it can issue any number
    /// of statements synchronously: no hop back to Swift's cooperative pool (where
    /// it would queue behind other tasks) between them.
    public func run<T: Sendable>(_ body: @Sendable (isolated PostgresConnection) throws -> T) throws -> T {
        try body(self)
    }

    /// Runs `body` inside `BEGIN` ... `COMMIT` on this connection's own thread,
    /// rolling back when it throws. A transaction written this way holds its locks
    /// only as long as the database work takes.
    public func transaction<T: Sendable>(_ body: @Sendable (isolated PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let result = try body(self)
            try execute("COMMIT")
            return result
        } catch {
            if handle.map({ PQstatus($0) }) == CONNECTION_OK { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Rolls back the open transaction, if the connection still works (after a
    /// failed `pipeline` that began one).
    public func rollbackIfConnected() {
        if handle.map({ PQstatus($0) }) == CONNECTION_OK { try? execute("ROLLBACK") }
    }

    /// Runs one statement with binary parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ binds: (any PostgresEncodable)?...) throws -> PostgresRows {
        try query(sql, binds: binds)
    }

    /// Runs one statement with binary parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, binds: [(any PostgresEncodable)?]) throws -> PostgresRows {
        let connection = try liveHandle()
        let result = Self.withEncoded(binds) { types, values, lengths, formats in
            PQexecParams(connection, sql, Int32(binds.count), types, values, lengths, formats, 1)
        }
        return try consume(result, sql: sql)
    }

    /// One statement of a `pipeline`.
    public struct Statement {
        public var sql: String
        public var binds: [(any PostgresEncodable)?]
        public init(_ sql: String, _ binds: [(any PostgresEncodable)?] = []) {
            self.sql = sql
            self.binds = binds
        }
    }

    /// Sends several statements at once and reads their results in one round trip
    /// (libpq's pipeline mode): a transaction's BEGIN with its first query, its
    /// last statement with COMMIT. Returns each statement's rows, in order; if
    /// one fails, the server skips the rest and this throws the first error once
    /// every result has been read (inside a transaction, roll it back after).
    @discardableResult
    public func pipeline(_ statements: [Statement]) throws -> [PostgresRows] {
        let connection = try liveHandle()
        guard PQenterPipelineMode(connection) == 1 else {
            throw PostgresError(kind: .usage, message: "cannot enter pipeline mode: " + Self.trimmedError(connection))
        }
        // A pipeline that broke off (a send or a read failed) leaves results pending
        // and the connection stuck in pipeline mode: drop it, so the next use reconnects.
        defer { if PQexitPipelineMode(connection) != 1 { self.connection = nil } }
        for statement in statements {
            let sent = Self.withEncoded(statement.binds) { types, values, lengths, formats in
                PQsendQueryParams(connection, statement.sql, Int32(statement.binds.count), types, values, lengths, formats, 1)
            }
            guard sent == 1 else { throw PostgresError(kind: .connection, message: Self.trimmedError(connection)) }
        }
        guard PQpipelineSync(connection) == 1 else { throw PostgresError(kind: .connection, message: Self.trimmedError(connection)) }
        var rows: [PostgresRows] = []
        var failure: (any Error)?
        for statement in statements {
            guard let result = PQgetResult(connection) else {
                throw PostgresError(kind: .connection, message: "the pipeline ended early: " + Self.trimmedError(connection))
            }
            if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                PQclear(result)
                rows.append(PostgresRows(columns: [], rowsAffected: 0, storage: [], cells: [], rowCount: 0))
            } else {
                do {
                    rows.append(try consume(result, sql: statement.sql))
                } catch {
                    if failure == nil { failure = error }
                    rows.append(PostgresRows(columns: [], rowsAffected: 0, storage: [], cells: [], rowCount: 0))
                }
            }
            // Each statement's results end with a NULL.
            while let extra = PQgetResult(connection) { PQclear(extra) }
        }
        // The sync point, then the connection is idle again.
        while let result = PQgetResult(connection) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        if let failure { throw failure }
        return rows
    }

    /// Binary parameters laid out as libpq takes them, valid for the call of `body`.
    private static func withEncoded<R>(_ binds: [(any PostgresEncodable)?],
                                       _ body: ([Oid], [UnsafePointer<CChar>?], [Int32], [Int32]) -> R) -> R {
        var buffer: [UInt8] = []
        var ranges: [(offset: Int, length: Int)] = []
        var types: [Oid] = []
        buffer.reserveCapacity(binds.count * 16)
        for bind in binds {
            guard let bind else {
                ranges.append((0, -1))
                types.append(0)
                continue
            }
            let start = buffer.count
            bind.encodePostgres(into: &buffer)
            ranges.append((start, buffer.count - start))
            types.append(type(of: bind).postgresOID)
        }
        let lengths = ranges.map { Int32($0.length < 0 ? 0 : $0.length) }
        let formats = [Int32](repeating: 1, count: binds.count)
        return buffer.withUnsafeBufferPointer { bytes -> R in
            let base = bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
            // An empty parameter still needs a non-null pointer, or libpq reads it as NULL.
            var empty: CChar = 0
            return withUnsafePointer(to: &empty) { emptyPointer in
                let values: [UnsafePointer<CChar>?] = ranges.map { range in
                    if range.length < 0 { return nil }
                    if range.length == 0 || base == nil { return emptyPointer }
                    return base! + range.offset
                }
                return body(types, values, lengths, formats)
            }
        }
    }

    /// Runs SQL text with no parameters, which may hold several statements
    /// (migrations, `BEGIN`/`COMMIT`).
    public func execute(_ sql: String) throws {
        let connection = try liveHandle()
        _ = try consume(PQexec(connection, sql), sql: sql)
    }

    /// Streams rows into a table with `COPY ... FROM STDIN`; `data` is in the
    /// format the statement names. Returns the number of rows copied.
    public func copyIn(_ sql: String, data: [[UInt8]]) throws -> Int {
        let connection = try liveHandle()
        let start = PQexec(connection, sql)
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            _ = try consume(start, sql: sql)
            throw PostgresError(kind: .usage, message: "the statement did not start COPY FROM STDIN")
        }
        PQclear(start)
        for chunk in data {
            let sent = chunk.withUnsafeBufferPointer { bytes in
                bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    PQputCopyData(connection, $0, Int32(bytes.count))
                }
            }
            if sent != 1 { break }
        }
        PQputCopyEnd(connection, nil)
        var rows = 0
        var failure: (any Error)?
        while let result = PQgetResult(connection) {
            do {
                rows = try consume(result, sql: sql).rowsAffected
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return rows
    }

    private static func trimmedError(_ connection: OpaquePointer?) -> String {
        guard let connection, let text = PQerrorMessage(connection) else { return "unknown error" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func field(_ result: OpaquePointer, _ code: Character) -> String? {
        guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
        return String(cString: value)
    }

    /// Turns a libpq result into rows or a typed error, and frees it.
    private func consume(_ result: OpaquePointer?, sql: String) throws -> PostgresRows {
        guard let result else {
            let message = Self.trimmedError(handle)
            throw PostgresError(kind: handle.map { PQstatus($0) } == CONNECTION_OK ? .server : .connection, message: message)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN:
            return PostgresRows(columns: [], rowsAffected: Self.rowsAffected(result), storage: [], cells: [], rowCount: 0)
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            return Self.copyRows(result)
        default:
            let connectionBroken = handle.map { PQstatus($0) } != CONNECTION_OK
            let sqlState = field(result, "C")
            let message = field(result, "M") ?? Self.trimmedError(handle)
            throw PostgresError(
                kind: connectionBroken ? .connection : .server,
                sqlState: sqlState,
                message: message,
                detail: field(result, "D"),
                constraint: field(result, "n")
            )
        }
    }

    private static func rowsAffected(_ result: OpaquePointer) -> Int {
        guard let text = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    private static func copyRows(_ result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [PostgresRows.Column] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            let name = PQfname(result, Int32(column)).map { String(cString: $0) } ?? "?column?"
            columns.append(.init(name: name, oid: PQftype(result, Int32(column))))
        }
        var total = 0
        for row in 0..<rowCount {
            for column in 0..<columnCount { total += Int(PQgetlength(result, Int32(row), Int32(column))) }
        }
        var storage: [UInt8] = []
        storage.reserveCapacity(total)
        var cells: [(offset: Int, length: Int)] = []
        cells.reserveCapacity(rowCount * columnCount)
        for row in 0..<rowCount {
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    cells.append((0, -1))
                    continue
                }
                let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                let offset = storage.count
                if length > 0, let value = PQgetvalue(result, Int32(row), Int32(column)) {
                    value.withMemoryRebound(to: UInt8.self, capacity: length) {
                        storage.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
                    }
                }
                cells.append((offset, length))
            }
        }
        return PostgresRows(columns: columns, rowsAffected: rowsAffected(result), storage: storage, cells: cells, rowCount: rowCount)
    }
}
