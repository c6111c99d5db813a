import Foundation
import PostgresClient

/// Reading a pack for a change and writing it back: what a redaction inside a
/// pack and the retention of one of its members share. The caller holds the
/// transaction and has named its audit record (`outline.audited_change`),
/// without which the table's guard refuses both statements.
extension EventStore {
    /// A packed session's pack, locked (`FOR UPDATE`): two changes to members
    /// of one pack take turns, and the second reads what the first wrote.
    /// Nil for a session that is not in a pack.
    public static func lockedPack(of session: UUID, on connection: isolated PostgresConnection) throws -> (id: Int64, digest: [UInt8], pack: EventPack)? {
        let rows = try connection.query(
            """
            SELECT p.pack_id, p.body, p.packed_size, p.digest, array_to_string(p.sessions, ',')
              FROM outline_compacted_sessions c JOIN outline_event_packs p ON p.pack_id = c.pack_id
             WHERE c.session_id = $1 FOR UPDATE OF p
            """,
            session
        )
        guard let row = rows.first else { return nil }
        let id = try row.decode(Int64.self, at: 0)
        let digest = try row.decode(PostgresBytes.self, at: 3).bytes
        do {
            let pack = try StoredPack.pack(
                body: try row.decode(PostgresBytes.self, at: 1).bytes, packedSize: Int(try row.decode(Int32.self, at: 2)), digest: digest,
                sessions: try row.decode(String.self, at: 4).split(separator: ",").compactMap { UUID(uuidString: String($0)) })
            return (id, digest, pack)
        } catch {
            throw EventLogError.corruptSegment(sessionID: session, firstSequence: 1, reason: "its pack \(id): \(error)")
        }
    }

    /// Replaces a pack's row with `pack`'s (its block, digest, members and ranges); returns the new digest.
    @discardableResult
    static func rewritePack(id: Int64, _ pack: EventPack, on connection: isolated PostgresConnection) throws -> [UInt8] {
        let stored = try pack.compressed()
        try connection.query(
            """
            UPDATE outline_event_packs
               SET sessions = $2, event_counts = $3, first_position = $4, last_position = $5, first_recorded_at = $6, last_recorded_at = $7,
                   event_count = $8, body = $9, packed_size = $10, json_size = $11, digest = $12
             WHERE pack_id = $1
            """,
            id, PostgresArray(stored.sessions), PostgresArray(stored.eventCounts.map { Int32($0) }), stored.firstPosition, stored.lastPosition,
            PostgresTime.date(microseconds: stored.firstRecordedAtMicroseconds), PostgresTime.date(microseconds: stored.lastRecordedAtMicroseconds),
            Int32(stored.eventCount), PostgresBytes(stored.body), Int32(stored.packedSize), Int64(stored.jsonSize), PostgresBytes(stored.digest)
        )
        return stored.digest
    }

    /// Takes a session out of its pack, read by `lockedPack` in this
    /// transaction: the pack is rewritten without it, or deleted if it was the
    /// last (retention's removal).
    public static func remove(_ session: UUID, from found: (id: Int64, digest: [UInt8], pack: EventPack), on connection: isolated PostgresConnection) throws {
        let rest = found.pack.members.filter { $0.session != session }
        if rest.isEmpty {
            try connection.query("DELETE FROM outline_event_packs WHERE pack_id = $1", found.id)
        } else {
            try rewritePack(id: found.id, try EventPack(members: rest), on: connection)
        }
    }
}
