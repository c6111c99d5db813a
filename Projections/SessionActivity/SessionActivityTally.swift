import EventLog
import Foundation
import PostgresClient

/// A batch of log rows folded into per-session totals, ready for one upsert.
///
/// Reads the log through `LogScan` (hot rows and compacted segments alike);
/// payloads are decompressed but never decoded into catalog types.
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

    static let contentTypes: Set<String> = [OutputTextDelta.eventType, ReasoningSummaryDelta.eventType]
    static let resumedType = SessionResumed.eventType

    var totals: [UUID: Totals] = [:]
    var lastPosition: Int64 = 0
    var events: Int64 = 0

    mutating func add(session: UUID, _ event: SegmentEvent) {
        let position = event.position
        let type = event.eventType
        let recordedAt = event.recordedAt
        var entry = totals[session, default: Totals()]
        entry.events += 1
        entry.rawBytes += Int64(event.json.count)
        entry.storedBytes += Int64(event.storedSize)
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
        // Hot rows and compacted segments alike (the payloads are decompressed:
        // a segment holds them together).
        let scan = LogScan(after: position, through: end)
        var remaining = limit
        while remaining > 0 {
            let page = try scan.next(limit: min(remaining, 20_000), on: connection)
            if page.isEmpty { break }
            for (session, event) in page { tally.add(session: session, event) }
            remaining -= page.count
        }
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
