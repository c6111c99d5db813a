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

    public func rows(ids: [UUID], on connection: isolated PostgresConnection) throws -> [UUID: OutlineSessionRow] {
        guard !ids.isEmpty else { return [:] }
        let result = try connection.query("SELECT to_jsonb(s) FROM \(name) s WHERE id = ANY($1)", PostgresArray(ids))
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
    public func upsert(_ rows: [OutlineSessionRow], on connection: isolated PostgresConnection) throws {
        guard !rows.isEmpty else { return }
        let json = try OutlineSessionRow.jsonEncoder().encode(rows)
        let columns = OutlineSessionRow.columnNames.joined(separator: ", ")
        let excluded = OutlineSessionRow.columnNames.map { "EXCLUDED.\($0)" }.joined(separator: ", ")
        try connection.query(
            """
            INSERT INTO \(name) (\(columns))
            SELECT \(columns) FROM jsonb_populate_recordset(NULL::\(name), $1)
            ON CONFLICT (id) DO UPDATE SET (\(columns)) = ROW(\(excluded))
            """,
            PostgresJSONB(utf8: Array(json))
        )
    }

    /// A live session's row whose text columns only grew: the new text travels
    /// alone and is appended in the database.
    public struct GrownRow: Sendable {
        public var row: OutlineSessionRow
        public var outputSuffix: String
        public var reasoningSuffix: String
    }

    /// Updates rows whose output text and reasoning summary only grew: every other
    /// column from the row, the two texts by appending their new suffixes.
    public func updateGrown(_ rows: [GrownRow], on connection: isolated PostgresConnection) throws {
        guard !rows.isEmpty else { return }
        let slim = rows.map { grown -> OutlineSessionRow in
            var row = grown.row
            row.outputText = ""
            row.reasoningSummary = ""
            return row
        }
        let json = try OutlineSessionRow.jsonEncoder().encode(slim)
        let others = OutlineSessionRow.columnNames.filter { !["id", "output_text", "reasoning_summary"].contains($0) }
        try connection.query(
            """
            UPDATE \(name) AS s
               SET (\(others.joined(separator: ", "))) = ROW(\(others.map { "r.\($0)" }.joined(separator: ", "))),
                   output_text = s.output_text || x.output_suffix,
                   reasoning_summary = s.reasoning_summary || x.reasoning_suffix
              FROM jsonb_populate_recordset(NULL::\(name), $1) AS r
              JOIN unnest($2::uuid[], $3::text[], $4::text[]) AS x(id, output_suffix, reasoning_suffix) ON x.id = r.id
             WHERE s.id = r.id
            """,
            PostgresJSONB(utf8: Array(json)), PostgresArray(rows.map(\.row.id)), PostgresArray(rows.map(\.outputSuffix)),
            PostgresArray(rows.map(\.reasoningSuffix))
        )
    }
}
