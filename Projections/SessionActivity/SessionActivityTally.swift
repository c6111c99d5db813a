import EventLog
import Foundation
import PostgresClient

/// A batch of log rows folded into per-session totals, ready for one upsert.
///
/// Reads only the columns it needs (type, sizes, time): no payload is
/// decompressed or decoded, which is what lets a rebuild run at log-scan speed.
struct SessionActivityTally: Sendable {
    struct Totals: Sendable {
        var events: Int64 = 0
        var rawBytes: Int64 = 0
        var storedBytes: Int64 = 0
        var contentEvents: Int64 = 0
        var resumes: Int64 = 0
        var firstEventAt = Date.distantFuture
        var lastEventAt = Date.distantPast
    }

    /// The log columns a tally reads, in `add(_:)`'s order.
    static let selectColumns = "position, session_id, event_type, raw_size, octet_length(payload), recorded_at"
    static let contentTypes: Set<String> = [OutputTextDelta.eventType, ReasoningSummaryDelta.eventType]
    static let resumedType = SessionResumed.eventType

    var totals: [UUID: Totals] = [:]
    var lastPosition: Int64 = 0
    var events: Int64 = 0

    mutating func add(_ row: PostgresRow) throws {
        let position = try row.decode(Int64.self, at: 0)
        let session = try row.decode(UUID.self, at: 1)
        let type = try row.decode(String.self, at: 2)
        let recordedAt = try row.decode(Date.self, at: 5)
        var entry = totals[session, default: Totals()]
        entry.events += 1
        entry.rawBytes += try row.decode(Int64.self, at: 3)
        entry.storedBytes += try row.decode(Int64.self, at: 4)
        if Self.contentTypes.contains(type) { entry.contentEvents += 1 }
        if type == Self.resumedType { entry.resumes += 1 }
        entry.firstEventAt = min(entry.firstEventAt, recordedAt)
        entry.lastEventAt = max(entry.lastEventAt, recordedAt)
        totals[session] = entry
        lastPosition = position
        events += 1
    }

    /// Reads the log after `position` (up to `end`, at most `limit` rows) into a tally.
    static func read(after position: Int64, upTo end: Int64 = .max, limit: Int, on connection: isolated PostgresConnection) throws -> SessionActivityTally {
        var tally = SessionActivityTally()
        tally.lastPosition = position
        let rows = try connection.query(
            "SELECT \(selectColumns) FROM outline_events WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
            position, end, Int64(limit)
        )
        for row in rows { try tally.add(row) }
        return tally
    }

    mutating func merge(_ other: SessionActivityTally) {
        for (session, add) in other.totals {
            var entry = totals[session, default: Totals()]
            entry.events += add.events
            entry.rawBytes += add.rawBytes
            entry.storedBytes += add.storedBytes
            entry.contentEvents += add.contentEvents
            entry.resumes += add.resumes
            entry.firstEventAt = min(entry.firstEventAt, add.firstEventAt)
            entry.lastEventAt = max(entry.lastEventAt, add.lastEventAt)
            totals[session] = entry
        }
        lastPosition = max(lastPosition, other.lastPosition)
        events += other.events
    }

    /// Adds these totals to `table`, shaped as `version`, in chunks of `chunk` sessions.
    func write(into table: String, version: SessionActivityVersion, chunk: Int = 5000, on connection: isolated PostgresConnection) throws {
        let entries = Array(totals)
        let sql = version.upsert(into: table)
        for start in stride(from: 0, to: entries.count, by: chunk) {
            let slice = entries[start..<min(start + chunk, entries.count)]
            var binds: [(any PostgresEncodable)?] = [PostgresArray(slice.map(\.key))]
            for column in version.columns {
                switch column.source {
                case .count(let value): binds.append(PostgresArray(slice.map { value($0.value) }))
                case .time(let value): binds.append(PostgresArray(slice.map { value($0.value) }))
                }
            }
            try connection.query(sql, binds: binds)
        }
    }
}
