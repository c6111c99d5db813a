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
            buffer.reserveCapacity(rows.count * 450)
            for row in rows {
                // The payload is forwarded as stored JSON: only the codec is undone, not the catalog decode.
                let position = try row.decode(Int64.self, at: 0)
                let session = try row.decode(UUID.self, at: 1)
                let sequence = try row.decode(Int32.self, at: 2)
                guard let codec = PayloadCodec(rawValue: try row.decode(Int16.self, at: 5)) else {
                    throw EventLogError.corruptPayload(sessionID: session, sequence: sequence, position: position, reason: "unknown codec")
                }
                let json: [UInt8]
                do {
                    json = try codec.decode(try row.decode(PostgresBytes.self, at: 6).bytes, rawSize: try row.decode(Int.self, at: 7))
                } catch {
                    throw EventLogError.corruptPayload(sessionID: session, sequence: sequence, position: position, reason: "\(error)")
                }
                buffer += Self.line(session: session, sequence: sequence, position: position, type: try row.decode(String.self, at: 3),
                                    schemaVersion: try row.decode(Int16.self, at: 4), recordedAt: try row.decode(Date.self, at: 9),
                                    providerSequence: try row.decode(Int32?.self, at: 8), chainLink: try row.decode(PostgresBytes.self, at: 10).bytes, json: json)
                buffer.append(0x0A)
                after = position
            }
            exported += Int64(rows.count)
            try await write(buffer)
        }
    }

    static func condition(_ selection: Selection) -> (String, [(any PostgresEncodable)?]) {
        switch selection {
        case .session(let id):
            return ("e.session_id = $1", [id])
        case .workflow(let workflow, let owner):
            return ("e.session_id IN (SELECT id FROM outline_session_rows WHERE workflow_id = $1 AND ($2::text IS NULL OR workflow_owner = $2))", [workflow, owner])
        case .timeRange(let from, let to):
            return ("e.recorded_at >= coalesce($1, '-infinity'::timestamptz) AND e.recorded_at < coalesce($2, 'infinity'::timestamptz)", [from, to])
        }
    }

    /// One event as an NDJSON line (without the newline).
    public static func line(_ event: RecordedEvent) -> [UInt8] {
        line(session: event.sessionID, sequence: event.sequence, position: event.position, type: event.eventType, schemaVersion: event.schemaVersion,
             recordedAt: event.recordedAt, providerSequence: event.providerSequence, chainLink: event.chainLink, json: event.json)
    }

    static func line(session: UUID, sequence: Int32, position: Int64, type: String, schemaVersion: Int16, recordedAt: Date,
                     providerSequence: Int32?, chainLink: [UInt8], json: [UInt8]) -> [UInt8] {
        var text = "{\"session_id\":\"\(session.uuidString.lowercased())\",\"sequence\":\(sequence),\"position\":\(position)"
        text += ",\"type\":\"\(type)\",\"schema_version\":\(schemaVersion)"
        text += ",\"recorded_at\":\"\(TimestampText.format(recordedAt))\""
        text += ",\"provider_sequence\":\(providerSequence.map(String.init) ?? "null")"
        text += ",\"chain_link\":\"\(Hex.encode(chainLink))\",\"payload\":"
        return Array(text.utf8) + (json.isEmpty ? Array("null".utf8) : json) + [UInt8(ascii: "}")]
    }
}
