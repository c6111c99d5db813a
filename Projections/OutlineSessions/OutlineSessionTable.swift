import EventLog
import Foundation
import PostgresClient

/// Reads and writes rows of an `outline_sessions`-shaped table (the live one, or
/// a rebuild being filled), through PostgreSQL's own JSON row conversion.
public struct OutlineSessionTable: Sendable {
    public static let live = OutlineSessionTable(validatedName: "outline_sessions")

    public let name: String

    init(validatedName: String) { self.name = validatedName }

    /// A table name is an identifier, not a value, so it cannot be a parameter:
    /// only plain lower-case names are accepted.
    public init(name: String) throws {
        guard !name.isEmpty, name.count <= 63, name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }),
              !name.first!.isNumber else {
            throw PostgresError(kind: .usage, message: "\(name) is not a plain lower-case table name")
        }
        self.name = name
    }

    public func rows(ids: [UUID], on connection: PostgresConnection) async throws -> [UUID: OutlineSessionRow] {
        guard !ids.isEmpty else { return [:] }
        let result = try await connection.query("SELECT to_jsonb(s) FROM \(name) s WHERE id = ANY($1)", PostgresArray(ids))
        return try Self.decodeRows(result)
    }

    static func decodeRows(_ result: PostgresRows) throws -> [UUID: OutlineSessionRow] {
        let decoder = OutlineSessionRow.jsonDecoder()
        var rows: [UUID: OutlineSessionRow] = [:]
        for row in result {
            let decoded = try row.withBytes(at: 0) { bytes -> OutlineSessionRow in
                guard let bytes, bytes.count > 1 else { throw PostgresError(kind: .decoding, message: "empty row") }
                // jsonb in binary format: a version byte, then the JSON text.
                return try decoder.decode(OutlineSessionRow.self, from: Data(bytes.dropFirst()))
            }
            rows[decoded.id] = decoded
        }
        return rows
    }

    /// Inserts or replaces `rows` in one statement.
    public func upsert(_ rows: [OutlineSessionRow], on connection: PostgresConnection) async throws {
        guard !rows.isEmpty else { return }
        let json = try OutlineSessionRow.jsonEncoder().encode(rows)
        let columns = OutlineSessionRow.columnNames.joined(separator: ", ")
        let excluded = OutlineSessionRow.columnNames.map { "EXCLUDED.\($0)" }.joined(separator: ", ")
        try await connection.query(
            """
            INSERT INTO \(name) (\(columns))
            SELECT \(columns) FROM jsonb_populate_recordset(NULL::\(name), $1)
            ON CONFLICT (id) DO UPDATE SET (\(columns)) = ROW(\(excluded))
            """,
            PostgresJSONB(utf8: Array(json))
        )
    }
}
