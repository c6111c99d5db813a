/// The rows a statement returned, copied out of libpq into one contiguous buffer.
///
/// Copying once keeps results `Sendable` and lets the libpq result be freed on the
/// connection's own thread; one buffer with offsets avoids an allocation per cell.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public struct Column: Sendable, Hashable {
        public var name: String
        public var oid: UInt32
    }

    public let columns: [Column]
    /// Rows changed by INSERT, UPDATE, DELETE, or copied by COPY.
    public let rowsAffected: Int
    let storage: [UInt8]
    /// For each cell, row-major: offset into `storage` and length, or length -1 for NULL.
    let cells: [(offset: Int, length: Int)]
    let rowCount: Int

    init(columns: [Column], rowsAffected: Int, storage: [UInt8], cells: [(offset: Int, length: Int)], rowCount: Int) {
        self.columns = columns
        self.rowsAffected = rowsAffected
        self.storage = storage
        self.cells = cells
        self.rowCount = rowCount
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rowCount }
    public subscript(position: Int) -> PostgresRow { PostgresRow(rows: self, index: position) }

    public func columnIndex(named name: String) -> Int? { columns.firstIndex { $0.name == name } }
}

/// One row of `PostgresRows`; read columns by index or name with a type.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let index: Int

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at column: Int) throws -> T {
        guard column >= 0 && column < rows.columns.count else {
            throw PostgresError(kind: .usage, message: "column \(column) does not exist (the result has \(rows.columns.count))")
        }
        let cell = rows.cells[index * rows.columns.count + column]
        let oid = rows.columns[column].oid
        if cell.length < 0 { return try T.decodePostgres(oid: oid, bytes: nil) }
        return try rows.storage.withUnsafeBytes { all in
            try T.decodePostgres(oid: oid, bytes: UnsafeRawBufferPointer(rebasing: all[cell.offset..<(cell.offset + cell.length)]))
        }
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, named name: String) throws -> T {
        guard let column = rows.columnIndex(named: name) else {
            throw PostgresError(kind: .usage, message: "the result has no column named \(name)")
        }
        return try decode(type, at: column)
    }

    /// Calls `body` with the raw bytes of a cell without copying (nil for NULL).
    public func withBytes<R>(at column: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let cell = rows.cells[index * rows.columns.count + column]
        if cell.length < 0 { return try body(nil) }
        return try rows.storage.withUnsafeBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[cell.offset..<(cell.offset + cell.length)]))
        }
    }
}
