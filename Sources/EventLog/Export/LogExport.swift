import Foundation
import PostgresClient

/// Streams a part of the log out as NDJSON, one decoded event per line with
/// stable field names, page by page in global order, never holding more than a
/// page in memory. The payload is the stored JSON verbatim and the chain link
/// is included, so an export can be re-hashed later (`ExportChainCheck`).
public struct LogExport: Sendable {
    /// Which events: one session, one workflow's sessions, or a time range (or all).
    public enum Selection: Sendable {
        case session(UUID)
        case workflow(String)
        case timeRange(from: Date?, to: Date?)
    }

    public let store: EventStore
    public let pageSize: Int

    public init(store: EventStore, pageSize: Int = 5000) {
        self.store = store
        self.pageSize = pageSize
    }

    /// How many events the selection holds (for a progress bar).
    public func count(_ selection: Selection) async throws -> Int64 {
        let (condition, binds) = Self.condition(selection)
        return try await store.pool.query("SELECT count(*) FROM outline_events e WHERE \(condition)", binds: binds)[0].decode(Int64.self, at: 0)
    }

    /// Calls `write` with each page's lines (each ending in "\n"), in global order.
    public func run(_ selection: Selection, write: ([UInt8]) async throws -> Void) async throws -> Int64 {
        let (condition, binds) = Self.condition(selection)
        var after: Int64 = 0
        var exported: Int64 = 0
        while true {
            let rows = try await store.pool.query(
                "SELECT \(EventStore.selectColumns) FROM outline_events e WHERE \(condition) AND position > $\(binds.count + 1) ORDER BY position LIMIT $\(binds.count + 2)",
                binds: binds + [after, Int64(pageSize)]
            )
            if rows.isEmpty { return exported }
            var buffer: [UInt8] = []
            buffer.reserveCapacity(rows.count * 300)
            for row in rows {
                let event = try EventStore.decode(row)
                buffer += Self.line(event)
                buffer.append(0x0A)
                after = event.position
            }
            exported += Int64(rows.count)
            try await write(buffer)
        }
    }

    static func condition(_ selection: Selection) -> (String, [(any PostgresEncodable)?]) {
        switch selection {
        case .session(let id):
            return ("e.session_id = $1", [id])
        case .workflow(let workflow):
            return ("e.session_id IN (SELECT id FROM outline_session_rows WHERE workflow_id = $1)", [workflow])
        case .timeRange(let from, let to):
            return ("e.recorded_at >= coalesce($1, '-infinity'::timestamptz) AND e.recorded_at < coalesce($2, 'infinity'::timestamptz)", [from, to])
        }
    }

    /// One event as an NDJSON line (without the newline).
    public static func line(_ event: RecordedEvent) -> [UInt8] {
        var text = "{\"session_id\":\"\(event.sessionID.uuidString.lowercased())\",\"sequence\":\(event.sequence),\"position\":\(event.position)"
        text += ",\"type\":\"\(event.eventType)\",\"schema_version\":\(event.schemaVersion)"
        text += ",\"recorded_at\":\"\(Self.timestamp(event.recordedAt))\""
        text += ",\"provider_sequence\":\(event.providerSequence.map(String.init) ?? "null")"
        text += ",\"chain_link\":\"\(event.chainLink.map { String(format: "%02x", $0) }.joined())\",\"payload\":"
        return Array(text.utf8) + (event.json.isEmpty ? Array("null".utf8) : event.json) + [UInt8(ascii: "}")]
    }

    static func timestamp(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = Date(timeIntervalSince1970: TimeInterval(micros / 1_000_000))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: seconds)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, Int(micros % 1_000_000))
    }
}
