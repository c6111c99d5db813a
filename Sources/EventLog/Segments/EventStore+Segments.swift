import Foundation
import PostgresClient

/// Reading a session wherever its events live: segments for what compaction
/// covered, hot rows after that. Every session reader (SSE backlogs, `/events`,
/// replay, verify, the runner's own re-reads) goes through here, so a session
/// reads the same before and after compaction.
extension EventStore {
    /// A session's events after `sequence`, in order, at most `limit`, with the
    /// payloads' JSON decompressed but not decoded into catalog types.
    public func storedEvents(session: UUID, after sequence: Int32, limit: Int) async throws -> [SegmentEvent] {
        let limit = max(0, limit)
        let (hot, covered) = try await hotPage(session: session, after: sequence, limit: limit, columns: Self.selectColumns)
        var events: [SegmentEvent] = []
        if covered > sequence {
            events = try await segmentEvents(session: session, after: sequence, through: covered, limit: limit)
            for row in hot where events.count < limit {
                let event = try Self.decodeStored(row)
                if event.sequence > covered { events.append(event) }
            }
            return events
        }
        events.reserveCapacity(hot.count)
        for row in hot { events.append(try Self.decodeStored(row)) }
        return events
    }

    /// The next hot rows of a session after `sequence` (`columns` of them), and
    /// how far compaction covers it: one round trip, shared by every session reader.
    ///
    /// Sequences are dense, so the next `limit` events are exactly the next
    /// `limit` sequences: a bounded range, never a scan and sort of the rest of
    /// the session (which the planner chooses over the partitions otherwise;
    /// added in int8, so a cursor at the top cannot overflow it). The hot rows
    /// first, then how far compaction covers: a compaction that commits between
    /// the two only makes the second larger, and the caller drops the hot rows
    /// it now covers, so nothing is missed or doubled.
    func hotPage(session: UUID, after sequence: Int32, limit: Int, columns: String) async throws -> (rows: PostgresRows, covered: Int32) {
        try await pool.withConnection { connection in
            try await connection.run { connection -> (PostgresRows, Int32) in
                let results = try connection.pipeline([
                    .init(
                        """
                        SELECT \(columns) FROM outline_events,
                               (SELECT greatest($2, coalesce((SELECT covered_through FROM outline_compacted_sessions c WHERE c.session_id = $1), 0)) AS after_sequence) bound
                         WHERE session_id = $1 AND sequence > bound.after_sequence AND sequence <= bound.after_sequence::int8 + $3
                         ORDER BY sequence
                        """,
                        [session, sequence, Int32(clamping: limit)]),
                    .init("SELECT coalesce((SELECT covered_through FROM outline_compacted_sessions WHERE session_id = $1), 0)", [session]),
                ])
                return (results[0], try results[1][0].decode(Int32.self, at: 0))
            }
        }
    }

    /// The events of `session`'s segments after `sequence` (at most `through`), at most `limit`.
    func segmentEvents(session: UUID, after sequence: Int32, through covered: Int32, limit: Int) async throws -> [SegmentEvent] {
        try await Self.segmentEvents(pool: pool, session: session, after: sequence, through: covered, limit: limit, cache: segmentCache)
    }

    static func segmentEvents(pool: PostgresPool, session: UUID, after sequence: Int32, through covered: Int32, limit: Int,
                              cache: SegmentCache? = nil) async throws -> [SegmentEvent] {
        var events: [SegmentEvent] = []
        var cursor = sequence
        var triedPack = false
        while events.count < limit, cursor < covered {
            // The body only of segments not in the cache (NULL for those whose digest it holds).
            let known = cache?.digests(of: session) ?? [:]
            let rows = try await pool.query(
                """
                SELECT session_id, first_sequence, last_sequence, first_position, last_position, event_count, packed_size, json_size,
                       CASE WHEN digest = ANY($3) THEN NULL ELSE body END, digest
                  FROM outline_event_segments
                 WHERE session_id = $1 AND last_sequence > $2 ORDER BY first_sequence LIMIT 2
                """,
                session, cursor, PostgresArray(known.values.map { PostgresBytes($0) })
            )
            if rows.isEmpty {
                // None of its own: a small session's part of a pack, if it has one.
                guard !triedPack, let part = try await packPart(pool: pool, session: session, cache: cache) else { break }
                triedPack = true
                guard part.segment.firstSequence <= cursor + 1 else { break }
                for event in part.segment.events where event.sequence > cursor && event.sequence <= covered {
                    events.append(event)
                    if events.count == limit { return events }
                }
                cursor = max(cursor, min(part.segment.lastSequence, covered))
                continue
            }
            for row in rows {
                let key = SegmentCache.Key(session: session, firstSequence: try row.decode(Int32.self, at: 1))
                let digest = try row.decode(PostgresBytes.self, at: 9).bytes
                let segment: EventSegment
                if let cached = cache?.segment(key, digest: digest) {
                    segment = cached
                } else if try row.decode(PostgresBytes?.self, at: 8) == nil {
                    // Evicted meanwhile: read its body after all.
                    let full = try await pool.query(
                        "SELECT \(Self.segmentColumns) FROM outline_event_segments WHERE session_id = $1 AND first_sequence = $2", session, key.firstSequence)
                    guard let fullRow = full.first else { break }
                    segment = try decodeSegment(fullRow)
                    cache?.insert(segment, key: key, digest: digest)
                } else {
                    segment = try decodeSegment(row)
                    cache?.insert(segment, key: key, digest: digest)
                }
                guard segment.firstSequence <= cursor + 1 else { break }
                for event in segment.events where event.sequence > cursor && event.sequence <= covered {
                    events.append(event)
                    if events.count == limit { return events }
                }
                cursor = max(cursor, min(segment.lastSequence, covered))
            }
        }
        if cursor < covered {
            if let removed = try await pool.query("SELECT removed_at, reason FROM outline_removed_sessions WHERE session_id = $1", session).first {
                throw EventLogError.sessionRemoved(sessionID: session, removedAt: try removed.decode(Date.self, at: 0), reason: try removed.decode(String.self, at: 1))
            }
            throw EventLogError.corruptSegment(sessionID: session, firstSequence: cursor + 1,
                                               reason: "compaction covered events through \(covered), but no segment holds event \(cursor + 1)")
        }
        return events
    }

    /// A packed session's part of its pack, decoded and checked (the pack's
    /// digest, its layout and the part's chain), and the pack's digest; nil for
    /// a session that is not in a pack. A damaged pack is `corruptSegment`.
    static func packPart(pool: PostgresPool, session: UUID, cache: SegmentCache? = nil) async throws -> (segment: EventSegment, digest: [UInt8])? {
        try await pool.withConnection { connection in
            try await connection.run { connection in try packPart(session: session, cache: cache, on: connection) }
        }
    }

    static func packPart(session: UUID, cache: SegmentCache? = nil, on connection: isolated PostgresConnection) throws -> (segment: EventSegment, digest: [UInt8])? {
        let key = SegmentCache.Key(session: session, firstSequence: 1)
        let known = cache?.digests(of: session)[1]
        let rows = try connection.query(
            """
            SELECT p.pack_id, CASE WHEN p.digest = $2 THEN NULL ELSE p.body END, p.packed_size, p.digest, array_to_string(p.sessions, ',')
              FROM outline_compacted_sessions c JOIN outline_event_packs p ON p.pack_id = c.pack_id
             WHERE c.session_id = $1
            """,
            session, known.map { PostgresBytes($0) }
        )
        guard let row = rows.first else { return nil }
        let digest = try row.decode(PostgresBytes.self, at: 3).bytes
        if let cached = cache?.segment(key, digest: digest) { return (cached, digest) }
        let body: [UInt8]
        if let fetched = try row.decode(PostgresBytes?.self, at: 1) {
            body = fetched.bytes
        } else {
            // Evicted meanwhile.
            body = try connection.query("SELECT body FROM outline_event_packs WHERE pack_id = $1", try row.decode(Int64.self, at: 0))[0]
                .decode(PostgresBytes.self, at: 0).bytes
        }
        let pack: EventPack
        do {
            pack = try StoredPack.pack(body: body, packedSize: Int(try row.decode(Int32.self, at: 2)), digest: digest,
                                       sessions: try row.decode(String.self, at: 4).split(separator: ",").map { UUID(uuidString: String($0)) ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) })
        } catch {
            throw EventLogError.corruptSegment(sessionID: session, firstSequence: 1, reason: "its pack \(try row.decode(Int64.self, at: 0)): \(error)")
        }
        guard let segment = pack.segment(of: session) else {
            // Taken out by retention (its compacted row stays): the readers answer that it was removed.
            if try connection.query("SELECT 1 FROM outline_removed_sessions WHERE session_id = $1", session).count > 0 { return nil }
            throw EventLogError.corruptSegment(sessionID: session, firstSequence: 1, reason: "its pack \(try row.decode(Int64.self, at: 0)) does not hold it")
        }
        // The other members are likely read soon too (a rebuild, an export): keep them as well.
        for member in pack.members { cache?.insert(member.segment, key: .init(session: member.session, firstSequence: 1), digest: digest) }
        return (segment, digest)
    }

    /// The columns `decodeSegment` reads, in its order.
    static let segmentColumns = "session_id, first_sequence, last_sequence, first_position, last_position, event_count, packed_size, json_size, body, digest"

    /// A segment row, checked against its digest and decoded; a damaged segment
    /// is `EventLogError.corruptSegment`, naming it.
    static func decodeSegment(_ row: PostgresRow) throws -> EventSegment {
        let session = try row.decode(UUID.self, at: 0)
        let stored = StoredSegment(
            firstSequence: try row.decode(Int32.self, at: 1), lastSequence: try row.decode(Int32.self, at: 2),
            firstPosition: try row.decode(Int64.self, at: 3), lastPosition: try row.decode(Int64.self, at: 4),
            eventCount: Int(try row.decode(Int32.self, at: 5)), packedSize: Int(try row.decode(Int32.self, at: 6)),
            jsonSize: Int(try row.decode(Int64.self, at: 7)), body: try row.decode(PostgresBytes.self, at: 8).bytes,
            digest: try row.decode(PostgresBytes.self, at: 9).bytes
        )
        do {
            return try stored.segment()
        } catch {
            throw EventLogError.corruptSegment(sessionID: session, firstSequence: stored.firstSequence, reason: "\(error)")
        }
    }

    /// A row selected with `selectColumns`, its payload decompressed (not decoded).
    static func decodeStored(_ row: PostgresRow) throws -> SegmentEvent {
        let position = try row.decode(Int64.self, at: 0)
        let sessionID = try row.decode(UUID.self, at: 1)
        let sequence = try row.decode(Int32.self, at: 2)
        let codecValue = try row.decode(Int16.self, at: 5)
        let stored = try row.decode(PostgresBytes.self, at: 6).bytes
        guard let codec = PayloadCodec(rawValue: codecValue) else {
            throw EventLogError.corruptPayload(sessionID: sessionID, sequence: sequence, position: position, reason: PayloadCodecError.unknownCodec(codecValue).description)
        }
        let json: [UInt8]
        do {
            json = try codec.decode(stored, rawSize: try row.decode(Int.self, at: 7))
        } catch {
            throw EventLogError.corruptPayload(sessionID: sessionID, sequence: sequence, position: position, reason: String(describing: error))
        }
        return SegmentEvent(
            position: position, sequence: sequence, eventType: try row.decode(String.self, at: 3),
            schemaVersion: try row.decode(Int16.self, at: 4), codec: codec, storedSize: stored.count,
            providerSequence: try row.decode(Int32?.self, at: 8),
            recordedAtMicroseconds: PostgresTime.microseconds(try row.decode(Date.self, at: 9)),
            chainLink: try row.decode(PostgresBytes.self, at: 10).bytes, json: json
        )
    }

    /// The full catalog event for one stored event of `session`.
    public static func recorded(_ event: SegmentEvent, session: UUID) throws -> RecordedEvent {
        let decoded: OutlineEvent
        do {
            decoded = try EventCatalog.decode(eventType: event.eventType, schemaVersion: event.schemaVersion, json: event.json,
                                              providerSequence: event.providerSequence)
        } catch {
            throw EventLogError.corruptPayload(sessionID: session, sequence: event.sequence, position: event.position,
                                               reason: "its JSON does not match \(event.eventType) v\(event.schemaVersion): \(error)")
        }
        return RecordedEvent(
            position: event.position, sessionID: session, sequence: event.sequence, eventType: event.eventType,
            schemaVersion: event.schemaVersion, codec: event.codec, storedSize: event.storedSize, rawSize: event.json.count,
            providerSequence: event.providerSequence, recordedAt: event.recordedAt, chainLink: event.chainLink,
            json: event.json, event: decoded, redactedDigest: event.redactedDigest
        )
    }
}

extension FeedEvent {
    public init(_ event: SegmentEvent) {
        self.init(sequence: event.sequence, eventType: event.eventType, json: event.json, recordedAt: event.recordedAt)
    }
}
