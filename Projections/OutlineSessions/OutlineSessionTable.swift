import EventLog
import Foundation
import PostgresClient

/// Reads and writes one `outline_sessions`-shaped read model: a view over a rows
/// table and a text-pieces table (see `Schema/migrations/0005`). The live one, or
/// a rebuild being filled beside it.
public struct OutlineSessionTable: Sendable {
    public static let live = OutlineSessionTable(validatedName: "outline_sessions")

    /// The view with every column of the read model.
    public let name: String
    /// The table of everything but the texts.
    public var rowsTable: String { name == "outline_sessions" ? "outline_session_rows" : "outline_session_rows" + name.dropFirst("outline_sessions".count) }
    /// The table of text pieces.
    public var textTable: String { name == "outline_sessions" ? "outline_session_text" : "outline_session_text" + name.dropFirst("outline_sessions".count) }

    init(validatedName: String) { self.name = validatedName }

    /// `outline_sessions` or `outline_sessions_<suffix>`: table names are identifiers,
    /// not values, so they cannot be parameters; only these plain names are accepted.
    public init(name: String) throws {
        let suffix = name.dropFirst("outline_sessions".count)
        guard name.hasPrefix("outline_sessions"), name.count <= 50,
              suffix.isEmpty || (suffix.first == "_" && suffix.dropFirst().allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw PostgresError(kind: .usage, message: "\(name) is not outline_sessions or outline_sessions_<lower-case suffix>")
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

    /// The rows table's columns: every column but the two texts.
    static let rowColumns = OutlineSessionRow.columnNames.filter { $0 != "output_text" && $0 != "reasoning_summary" }

    /// Writes the scalar columns of `rows` (JSON without the texts, which travel apart).
    private func writeRowColumns(_ rows: [OutlineSessionRow], upsert: Bool, on connection: isolated PostgresConnection) throws {
        let slim = rows.map { row -> OutlineSessionRow in
            var row = row
            row.outputText = ""
            row.reasoningSummary = ""
            return row
        }
        let json = PostgresJSONB(utf8: Array(try OutlineSessionRow.jsonEncoder().encode(slim)))
        let columns = Self.rowColumns.joined(separator: ", ")
        let assigned = Self.rowColumns.filter { $0 != "id" }
        if upsert {
            try connection.query(
                """
                INSERT INTO \(rowsTable) (\(columns))
                SELECT \(columns) FROM jsonb_populate_recordset(NULL::\(rowsTable), $1)
                ON CONFLICT (id) DO UPDATE SET (\(assigned.joined(separator: ", "))) = ROW(\(assigned.map { "EXCLUDED.\($0)" }.joined(separator: ", ")))
                """,
                json
            )
        } else {
            try connection.query(
                """
                UPDATE \(rowsTable) AS s SET (\(assigned.joined(separator: ", "))) = ROW(\(assigned.map { "r.\($0)" }.joined(separator: ", ")))
                  FROM jsonb_populate_recordset(NULL::\(rowsTable), $1) AS r WHERE s.id = r.id
                """,
                json
            )
        }
    }

    /// Inserts or replaces `rows` whole: their scalar columns, and their texts as
    /// one piece each (replacing any pieces they had).
    public func upsert(_ rows: [OutlineSessionRow], on connection: isolated PostgresConnection) throws {
        guard !rows.isEmpty else { return }
        try writeRowColumns(rows, upsert: true, on: connection)
        try connection.query("DELETE FROM \(textTable) WHERE session_id = ANY($1)", PostgresArray(rows.map(\.id)))
        try insertPieces(rows.map { ($0.id, $0.lastEventSequence, $0.outputText, $0.reasoningSummary) }, on: connection)
    }

    /// A live session's row whose texts only grew since it was last written.
    public struct GrownRow: Sendable {
        public var row: OutlineSessionRow
        public var outputSuffix: String
        public var reasoningSuffix: String
    }

    /// Updates rows whose texts only grew: the scalar columns, plus one new piece
    /// holding just the new text.
    public func updateGrown(_ rows: [GrownRow], on connection: isolated PostgresConnection) throws {
        guard !rows.isEmpty else { return }
        try writeRowColumns(rows.map(\.row), upsert: false, on: connection)
        try insertPieces(rows.map { ($0.row.id, $0.row.lastEventSequence, $0.outputSuffix, $0.reasoningSuffix) }, on: connection)
    }

    /// The columns a live delta changes. A grown row whose other columns are as
    /// they were is written by `updateProgress`: these six, and its new text, in
    /// one statement, instead of the whole row re-encoded as JSON.
    public struct Progress: Sendable, Equatable {
        var lastEventSequence: Int32
        var lastProviderSequence: Int32?
        var updatedAt: Date
        var lastEventAt: Date
        var elapsedMs: Int64
        var progressPhase: OutlineSessionRow.Phase

        init(_ row: OutlineSessionRow) {
            lastEventSequence = row.lastEventSequence
            lastProviderSequence = row.lastProviderSequence
            updatedAt = row.updatedAt
            lastEventAt = row.lastEventAt
            elapsedMs = row.elapsedMs
            progressPhase = row.progressPhase
        }

        /// `row` with these columns (the rest untouched).
        func applied(to row: OutlineSessionRow) -> OutlineSessionRow {
            var row = row
            row.lastEventSequence = lastEventSequence
            row.lastProviderSequence = lastProviderSequence
            row.updatedAt = updatedAt
            row.lastEventAt = lastEventAt
            row.elapsedMs = elapsedMs
            row.progressPhase = progressPhase
            return row
        }
    }

    /// Writes grown rows whose only changed columns are their `Progress` ones and
    /// their texts: one round trip for all of them, the texts as new pieces.
    /// Timestamps travel as `TimestampText`, the same text the JSON path writes,
    /// so both paths store the same microsecond.
    public func updateProgress(_ rows: [GrownRow], on connection: isolated PostgresConnection) throws {
        guard !rows.isEmpty else { return }
        let pieces = rows.filter { !$0.outputSuffix.isEmpty || !$0.reasoningSuffix.isEmpty }
        try connection.query(
            """
            WITH progress AS (
              UPDATE \(rowsTable) AS s
                 SET last_event_sequence = p.last_event_sequence, last_provider_sequence = p.last_provider_sequence,
                     updated_at = p.updated_at::timestamptz, last_event_at = p.last_event_at::timestamptz,
                     elapsed_ms = p.elapsed_ms, progress_phase = p.progress_phase
                FROM unnest($1::uuid[], $2::int4[], $3::int4[], $4::text[], $5::text[], $6::int8[], $7::text[])
                     AS p(id, last_event_sequence, last_provider_sequence, updated_at, last_event_at, elapsed_ms, progress_phase)
               WHERE s.id = p.id
              RETURNING s.id
            )
            INSERT INTO \(textTable) (session_id, piece_no, output_piece, reasoning_piece)
            SELECT * FROM unnest($8::uuid[], $9::int4[], $10::text[], $11::text[])
            """,
            PostgresArray(rows.map(\.row.id)), PostgresArray(rows.map(\.row.lastEventSequence)), PostgresArray(rows.map(\.row.lastProviderSequence)),
            PostgresArray(rows.map { TimestampText.format($0.row.updatedAt) }), PostgresArray(rows.map { TimestampText.format($0.row.lastEventAt) }),
            PostgresArray(rows.map(\.row.elapsedMs)), PostgresArray(rows.map(\.row.progressPhase.rawValue)),
            PostgresArray(pieces.map(\.row.id)), PostgresArray(pieces.map(\.row.lastEventSequence)),
            PostgresArray(pieces.map(\.outputSuffix)), PostgresArray(pieces.map(\.reasoningSuffix))
        )
    }

    private func insertPieces(_ pieces: [(UUID, Int32, String, String)], on connection: isolated PostgresConnection) throws {
        let nonEmpty = pieces.filter { !$0.2.isEmpty || !$0.3.isEmpty }
        guard !nonEmpty.isEmpty else { return }
        try connection.query(
            "INSERT INTO \(textTable) (session_id, piece_no, output_piece, reasoning_piece) SELECT * FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::text[])",
            PostgresArray(nonEmpty.map(\.0)), PostgresArray(nonEmpty.map(\.1)), PostgresArray(nonEmpty.map(\.2)), PostgresArray(nonEmpty.map(\.3))
        )
    }
}
