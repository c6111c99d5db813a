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
        /// The sessions of workflow id `id` in `owner`'s namespace, or in every
        /// namespace when `owner` is nil (an operator's export by id alone).
        case workflow(String, owner: String? = nil)
        case timeRange(from: Date?, to: Date?)
    }

    public let store: EventStore
    public let pageSize: Int

    public init(store: EventStore, pageSize: Int = 5000) {
        self.store = store
        self.pageSize = pageSize
    }

    /// How many events the selection holds (for a progress bar): hot rows not
    /// yet compacted plus the compacted events of the segments and packed
    /// sessions that can hold them (for a time range, segments are counted whole: an estimate).
    public func count(_ selection: Selection) async throws -> Int64 {
        let filter = Self.filter(selection)
        let hot = try await store.pool.query(
            """
            SELECT count(*) FROM outline_events e WHERE \(filter.hotCondition)
               AND NOT EXISTS (SELECT 1 FROM outline_compacted_sessions c WHERE c.session_id = e.session_id AND e.sequence <= c.covered_through)
            """,
            binds: filter.binds)[0].decode(Int64.self, at: 0)
        let compacted = try await store.pool.query(
            "SELECT coalesce(sum(event_count), 0)::int8 FROM outline_event_segments s WHERE \(filter.segmentCondition)", binds: filter.binds
        )[0].decode(Int64.self, at: 0)
        let packed = try await store.pool.query(
            """
            SELECT coalesce(sum(s.event_count), 0)::int8
              FROM outline_event_packs p, LATERAL (SELECT m.session_id, m.event_count, p.first_recorded_at, p.last_recorded_at
                                                    FROM unnest(p.sessions, p.event_counts) AS m(session_id, event_count)) s
             WHERE \(filter.segmentCondition)
            """, binds: filter.binds
        )[0].decode(Int64.self, at: 0)
        return hot + compacted + packed
    }

    /// Calls `write` with each page's lines (each ending in "\n"), in global
    /// order, from hot rows and segments alike (`LogScan`).
    public func run(_ selection: Selection, write: ([UInt8]) async throws -> Void) async throws -> Int64 {
        let scan = LogScan(after: 0, filter: Self.filter(selection))
        let pageSize = pageSize
        var exported: Int64 = 0
        while true {
            let page = try await store.pool.withConnection { connection in try await connection.run { try scan.next(limit: pageSize, on: $0) } }
            if page.isEmpty { return exported }
            var buffer: [UInt8] = []
            buffer.reserveCapacity(page.count * 450)
            for (session, event) in page {
                // The payload is forwarded as stored JSON: only the codec is undone, not the catalog decode.
                buffer += Self.line(session: session, sequence: event.sequence, position: event.position, type: event.eventType,
                                    schemaVersion: event.schemaVersion, recordedAt: event.recordedAt,
                                    providerSequence: event.providerSequence, chainLink: event.chainLink, json: event.json,
                                    redactedDigest: event.redactedDigest)
                buffer.append(0x0A)
            }
            exported += Int64(page.count)
            try await write(buffer)
        }
    }

    static func filter(_ selection: Selection) -> LogScan.Filter {
        switch selection {
        case .session(let id):
            return .init(hotCondition: "e.session_id = $1", segmentCondition: "s.session_id = $1", binds: [id])
        case .workflow(let workflow, let owner):
            let sessions = "(SELECT id FROM outline_session_rows WHERE workflow_id = $1 AND ($2::text IS NULL OR workflow_owner = $2))"
            return .init(hotCondition: "e.session_id IN \(sessions)", segmentCondition: "s.session_id IN \(sessions)", binds: [workflow, owner])
        case .timeRange(let from, let to):
            let lower = from.map(PostgresTime.microseconds) ?? .min
            let upper = to.map(PostgresTime.microseconds) ?? .max
            return .init(
                hotCondition: "e.recorded_at >= coalesce($1, '-infinity'::timestamptz) AND e.recorded_at < coalesce($2, 'infinity'::timestamptz)",
                segmentCondition: "s.last_recorded_at >= coalesce($1, '-infinity'::timestamptz) AND s.first_recorded_at < coalesce($2, 'infinity'::timestamptz)",
                binds: [from, to],
                accepts: { _, event in event.recordedAtMicroseconds >= lower && event.recordedAtMicroseconds < upper })
        }
    }

    /// One event as an NDJSON line (without the newline).
    public static func line(_ event: RecordedEvent) -> [UInt8] {
        line(session: event.sessionID, sequence: event.sequence, position: event.position, type: event.eventType, schemaVersion: event.schemaVersion,
             recordedAt: event.recordedAt, providerSequence: event.providerSequence, chainLink: event.chainLink, json: event.json,
             redactedDigest: event.redactedDigest)
    }

    static func line(session: UUID, sequence: Int32, position: Int64, type: String, schemaVersion: Int16, recordedAt: Date,
                     providerSequence: Int32?, chainLink: [UInt8], json: [UInt8], redactedDigest: [UInt8]? = nil) -> [UInt8] {
        var text = "{\"sessionId\":\"\(session.uuidString.lowercased())\",\"sequence\":\(sequence),\"position\":\(position)"
        text += ",\"type\":\"\(type)\",\"schemaVersion\":\(schemaVersion)"
        text += ",\"recordedAt\":\"\(TimestampText.format(recordedAt))\""
        text += ",\"providerSequence\":\(providerSequence.map(String.init) ?? "null")"
        text += ",\"chainLink\":\"\(Hex.encode(chainLink))\""
        // A redacted event: the payload is its tombstone, the link covers this digest of the original.
        if let redactedDigest { text += ",\"payloadDigest\":\"\(Hex.encode(redactedDigest))\"" }
        text += ",\"payload\":"
        return Array(text.utf8) + (json.isEmpty ? Array("null".utf8) : json) + [UInt8(ascii: "}")]
    }
}
