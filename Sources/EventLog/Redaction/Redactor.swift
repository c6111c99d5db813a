import Foundation
import Logging
import PostgresClient

/// Removes payload content from the log (a deletion request, a leaked secret)
/// while every chain still verifies: the event's JSON becomes a `Tombstone`
/// naming the redaction, the digest of what was appended is kept beside it
/// (the chain link covers that digest, never the bytes), and the redaction is
/// itself a record in the log audit stream, written in the same transaction.
///
/// A session is redacted once it has ended, in its segments or its part of a
/// pack (it is compacted first if it was not), and in its hot rows while their partition still
/// exists, so the content is gone from both. PostgreSQL keeps the old row
/// versions until VACUUM, which runs right after; WAL archives and backups
/// keep them until they are rotated.
public struct Redactor: Sendable {
    public enum Selector: Sendable, Equatable, CustomStringConvertible {
        case sequence(Int32)
        case type(String)

        public var description: String {
            switch self {
            case .sequence(let sequence): "event \(sequence)"
            case .type(let type): "event of type \(type)"
            }
        }
    }

    public struct Result: Sendable, Equatable {
        public var auditSequence: Int64
        public var sequences: [Int32]
        /// Events the selector named that were redacted already (left as they are).
        public var alreadyRedacted: [Int32]
    }

    /// The audit record's details.
    struct Details: Codable {
        struct Event: Codable {
            var sequence: Int32
            var type: String
            var digest: String
        }
        var session: String
        var events: [Event]
    }

    public let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "outlinestream.redaction")) {
        self.pool = pool
        self.logger = logger
    }

    public func redact(session: UUID, _ selector: Selector, actor: String, reason: String) async throws -> Result {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, !actor.isEmpty else { throw RedactionError.emptyReason }
        switch try await Compactor(pool: pool, logger: logger).compact(session: session) {
        case .compacted, .alreadyCompacted: break
        case .notFinished: throw RedactionError.notFinished
        case .chainBroken(let why): throw RedactionError.chainBroken(why)
        }
        let at = TimestampText.format(Date())
        let result = try await pool.withConnection { connection in
            try await connection.transaction { connection -> (Result, [Int64]) in
                _ = try connection.query("SELECT 1 FROM outline_event_streams WHERE session_id = $1 FOR UPDATE", session)
                var segments = try connection.query(
                    "SELECT \(EventStore.segmentColumns) FROM outline_event_segments WHERE session_id = $1 ORDER BY first_sequence", session
                ).map(EventStore.decodeSegment)
                // A small session's one segment is its part of a pack: the pack is rewritten with that part redacted.
                var packed: (id: Int64, digest: [UInt8], pack: EventPack)?
                if segments.isEmpty, let found = try EventStore.lockedPack(of: session, on: connection), let part = found.pack.segment(of: session) {
                    packed = found
                    segments = [part]
                }
                var targets: [(segment: Int, index: Int)] = []
                var already: [Int32] = []
                for (s, segment) in segments.enumerated() {
                    for (i, event) in segment.events.enumerated() {
                        let named = switch selector {
                        case .sequence(let sequence): event.sequence == sequence
                        case .type(let type): event.eventType == type
                        }
                        guard named else { continue }
                        if event.redactedDigest != nil { already.append(event.sequence) } else { targets.append((s, i)) }
                    }
                }
                if targets.isEmpty && already.isEmpty { throw RedactionError.noSuchEvent(selector.description) }
                guard !targets.isEmpty else { return (Result(auditSequence: 0, sequences: [], alreadyRedacted: already), []) }
                let details = Details(session: session.uuidString.lowercased(), events: targets.map {
                    let event = segments[$0.segment].events[$0.index]
                    return .init(sequence: event.sequence, type: event.eventType, digest: Hex.encode(event.payloadDigest))
                })
                let audit = try LogAudit.append(.redacted, actor: actor, reason: reason, details: details, on: connection)
                // The guards on segments and on the log let these statements through: they name the record just written.
                try connection.query("SELECT set_config('outline.audited_change', $1, true)", String(audit))
                var rewritten = segments
                var positions: [Int64] = []
                for (s, i) in targets {
                    let original = rewritten[s].events[i]
                    let digest = ChainLink.payloadDigest(original.json)
                    let tombstone = try Tombstone.make(from: original.json, redaction: .init(audit: audit, at: at, by: actor, reason: reason, digest: Hex.encode(digest)))
                    rewritten[s].events[i].json = tombstone
                    rewritten[s].events[i].redactedDigest = digest
                    positions.append(original.position)
                    try connection.query(
                        "UPDATE outline_events SET payload = $1, codec = 0, raw_size = $2 WHERE session_id = $3 AND sequence = $4",
                        PostgresBytes(tombstone), Int32(tombstone.count), session, original.sequence
                    )
                }
                if var pack = packed?.pack, let id = packed?.id, let index = pack.members.firstIndex(where: { $0.session == session }) {
                    pack.members[index].segment = try EventSegment(events: rewritten[0].events, previousLink: rewritten[0].previousLink)
                    try EventStore.rewritePack(id: id, pack, on: connection)
                }
                for s in Set(targets.map(\.segment)) where packed == nil {
                    let stored = try EventSegment(events: rewritten[s].events, previousLink: rewritten[s].previousLink).compressed()
                    try connection.query(
                        "UPDATE outline_event_segments SET body = $1, digest = $2, packed_size = $3, json_size = $4 WHERE session_id = $5 AND first_sequence = $6",
                        PostgresBytes(stored.body), PostgresBytes(stored.digest), Int32(stored.packedSize), Int64(stored.jsonSize), session, stored.firstSequence
                    )
                }
                try connection.query("SELECT set_config('outline.audited_change', '', true)")
                return (Result(auditSequence: audit, sequences: targets.map { segments[$0.segment].events[$0.index].sequence }, alreadyRedacted: already), positions)
            }
        }
        if !result.1.isEmpty {
            // The old row versions hold the content until VACUUM: run it now on what changed.
            let partitions = try await pool.query(
                "SELECT name FROM outline_event_partitions WHERE dropped_at IS NULL AND first_position <= ANY($1) AND last_position >= ANY($1)",
                PostgresArray(result.1)
            ).map { try $0.decode(String.self, at: 0) }
            for name in partitions where (try? LogPartitions.quoted(name)) != nil {
                try? await pool.query("VACUUM \(try LogPartitions.quoted(name))")
            }
            try? await pool.query("VACUUM outline_event_segments")
            try? await pool.query("VACUUM outline_event_packs")
            logger.info("redacted events", metadata: ["session": "\(session)", "events": "\(result.0.sequences)", "audit": "\(result.0.auditSequence)", "by": "\(actor)"])
        }
        return result.0
    }
}
