import Foundation

/// One shape of the `session_activity` read model (`outline_session_activity`).
///
/// Versions are kept side by side in code because a new one is introduced by
/// rebuilding it from the log while the old one still serves: the projector must
/// be able to keep either current. Every column is a sum, minimum or maximum of a
/// per-event quantity, so a batch folds into it with one upsert.
public struct SessionActivityVersion: Sendable, Equatable {
    /// How a column combines an existing value with a batch's.
    enum Merge: Sendable { case sum, least, greatest }

    /// Where a column's value comes from in a session's totals.
    enum Source: Sendable {
        case count(@Sendable (SessionActivityTally.Totals) -> Int64)
        case time(@Sendable (SessionActivityTally.Totals) -> Date)

        var sqlType: String { if case .count = self { "bigint" } else { "timestamptz" } }
        var arrayType: String { if case .count = self { "int8[]" } else { "timestamptz[]" } }
    }

    struct Column: Sendable, Equatable {
        var name: String
        var merge: Merge
        var source: Source
        var sqlType: String { source.sqlType }

        static func == (a: Column, b: Column) -> Bool { a.name == b.name && a.sqlType == b.sqlType }
    }

    public let number: Int
    /// What this version adds, for operators choosing one.
    public let summary: String
    let columns: [Column]

    public var columnNames: [String] { ["session_id"] + columns.map(\.name) }

    private static let events = Column(name: "events", merge: .sum, source: .count { $0.events })
    private static let rawBytes = Column(name: "raw_bytes", merge: .sum, source: .count { $0.rawBytes })
    private static let firstEventAt = Column(name: "first_event_at", merge: .least, source: .time { $0.firstEventAt })
    private static let lastEventAt = Column(name: "last_event_at", merge: .greatest, source: .time { $0.lastEventAt })
    private static let storedBytes = Column(name: "stored_bytes", merge: .sum, source: .count { $0.storedBytes })
    private static let contentEvents = Column(name: "content_events", merge: .sum, source: .count { $0.contentEvents })
    private static let resumes = Column(name: "resumes", merge: .sum, source: .count { $0.resumes })

    /// Events and JSON bytes per session, first and last write.
    public static let v1 = SessionActivityVersion(number: 1, summary: "events, JSON bytes, first and last event time",
                                                  columns: [events, rawBytes, firstEventAt, lastEventAt])
    /// Adds the bytes actually stored (after LZ4), the content deltas and the
    /// stream interruptions (resumes), which the diagnostics page shows per session.
    public static let v2 = SessionActivityVersion(number: 2, summary: "v1 + stored (compressed) bytes, content deltas, stream resumes",
                                                  columns: [events, rawBytes, firstEventAt, lastEventAt, storedBytes, contentEvents, resumes])

    public static let all = [v1, v2]
    public static var latest: SessionActivityVersion { all.last! }

    public static func number(_ number: Int) -> SessionActivityVersion? { all.first { $0.number == number } }

    func createTable(_ table: String) -> String {
        let body = (["session_id uuid PRIMARY KEY"] + columns.map { "\($0.name) \($0.sqlType) NOT NULL" }).joined(separator: ",\n    ")
        return "CREATE TABLE \(table) (\n    \(body)\n)"
    }

    /// Adds a batch's per-session totals to `table`: one statement, arrays as parameters.
    func upsert(into table: String) -> String {
        let names = columnNames.joined(separator: ", ")
        let arrays = (["$1::uuid[]"] + columns.enumerated().map { "$\($0.offset + 2)::\($0.element.source.arrayType)" }).joined(separator: ", ")
        let updates = columns.map { column -> String in
            switch column.merge {
            case .sum: "\(column.name) = \(table).\(column.name) + excluded.\(column.name)"
            case .least: "\(column.name) = least(\(table).\(column.name), excluded.\(column.name))"
            case .greatest: "\(column.name) = greatest(\(table).\(column.name), excluded.\(column.name))"
            }
        }.joined(separator: ", ")
        return "INSERT INTO \(table) (\(names)) SELECT * FROM unnest(\(arrays)) ON CONFLICT (session_id) DO UPDATE SET \(updates)"
    }
}
