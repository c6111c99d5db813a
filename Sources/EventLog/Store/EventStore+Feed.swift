import Foundation
import PostgresClient

/// One event as live streams and replays send it: its sequence, type and JSON,
/// without decoding the JSON into a catalog type (a stream forwards it as is).
public struct FeedEvent: Sendable, Equatable {
    public var sequence: Int32
    public var eventType: String
    public var json: [UInt8]
    public var recordedAt: Date

    /// True for the event types that end a session.
    public var isTerminal: Bool { EventCatalog.terminalEventTypes.contains(eventType) }
}

extension EventCatalog {
    /// The stored type names of the events that end a session.
    public static let terminalEventTypes: Set<String> = [SessionCompleted.eventType, SessionFailed.eventType, SessionCancelled.eventType]
}

extension EventStore {
    /// A session's events after `sequence` for streaming: decompressed, not
    /// decoded. A damaged payload is an error naming the event, as in `read`.
    ///
    /// The hot path reads only the columns a stream sends (sequence, type,
    /// payload, recorded-at), as one bounded range of sequences; a session that
    /// compaction covers past `sequence` is read from its segments first
    /// (`storedEvents`' rules: hot rows first, then how far compaction covers).
    public func readFeed(session: UUID, after sequence: Int32, limit: Int = 1000) async throws -> [FeedEvent] {
        let limit = max(0, limit)
        let (hot, covered) = try await hotPage(session: session, after: sequence, limit: limit,
                                               columns: "sequence, event_type, codec, payload, raw_size, recorded_at, position")
        var events: [FeedEvent] = []
        if covered > sequence {
            events = try await segmentEvents(session: session, after: sequence, through: covered, limit: limit).map(FeedEvent.init)
        }
        events.reserveCapacity(events.count + hot.count)
        for row in hot where events.count < limit {
            let event = try Self.feedEvent(row, session: session)
            if event.sequence > covered { events.append(event) }
        }
        return events
    }

    /// Many sessions' events after their cursors at once, at most `limit` each:
    /// what a notification naming many sessions needs, in one round trip instead
    /// of one per session (the primary's statements per commit stay flat as
    /// sessions and instances grow). The hot rows of every session first, then
    /// how far compaction covers each; a session covered past its cursor (a
    /// compacted one, never a live one in practice) is read again by `readFeed`,
    /// so the answer is always `readFeed`'s.
    public func readFeeds(_ cursors: [(session: UUID, after: Int32)], limit: Int = 1000) async throws -> [UUID: [FeedEvent]] {
        guard !cursors.isEmpty else { return [:] }
        let limit = max(0, limit)
        let sessions = cursors.map(\.session)
        let (hot, coveredRows) = try await pool.withConnection { connection in
            try await connection.run { connection -> (PostgresRows, PostgresRows) in
                let results = try connection.pipeline([
                    .init(
                        """
                        SELECT e.sequence, e.event_type, e.codec, e.payload, e.raw_size, e.recorded_at, e.position, k.session_id
                          FROM unnest($1::uuid[], $2::int4[]) WITH ORDINALITY AS k(session_id, after_sequence, ord),
                               LATERAL (SELECT sequence, event_type, codec, payload, raw_size, recorded_at, position FROM outline_events
                                         WHERE session_id = k.session_id AND sequence > k.after_sequence AND sequence <= k.after_sequence::int8 + $3
                                         ORDER BY sequence) e
                         ORDER BY k.ord, e.sequence
                        """,
                        [PostgresArray(sessions), PostgresArray(cursors.map(\.after)), Int32(clamping: limit)]),
                    .init("SELECT session_id, covered_through FROM outline_compacted_sessions WHERE session_id = ANY($1)", [PostgresArray(sessions)]),
                ])
                return (results[0], results[1])
            }
        }
        var covered: [UUID: Int32] = [:]
        for row in coveredRows { covered[try row.decode(UUID.self, at: 0)] = try row.decode(Int32.self, at: 1) }
        var pages: [UUID: [FeedEvent]] = [:]
        for row in hot {
            let session = try row.decode(UUID.self, at: 7)
            pages[session, default: []].append(try Self.feedEvent(row, session: session))
        }
        for (session, after) in cursors {
            if let through = covered[session], through > after {
                pages[session] = try await readFeed(session: session, after: after, limit: limit)
            } else if pages[session] == nil {
                pages[session] = []
            }
        }
        return pages
    }

    /// A row of `sequence, event_type, codec, payload, raw_size, recorded_at, position`,
    /// its payload decompressed; a damaged payload is an error naming the event.
    static func feedEvent(_ row: PostgresRow, session: UUID) throws -> FeedEvent {
        let eventSequence = try row.decode(Int32.self, at: 0)
        let codecValue = try row.decode(Int16.self, at: 2)
        let damaged = { (reason: String) in
            EventLogError.corruptPayload(sessionID: session, sequence: eventSequence, position: (try? row.decode(Int64.self, at: 6)) ?? 0, reason: reason)
        }
        guard let codec = PayloadCodec(rawValue: codecValue) else { throw damaged(PayloadCodecError.unknownCodec(codecValue).description) }
        let json: [UInt8]
        do {
            json = try codec.decode(try row.decode(PostgresBytes.self, at: 3).bytes, rawSize: try row.decode(Int.self, at: 4))
        } catch {
            throw damaged(String(describing: error))
        }
        return FeedEvent(sequence: eventSequence, eventType: try row.decode(String.self, at: 1), json: json, recordedAt: try row.decode(Date.self, at: 5))
    }

    /// The heads of many sessions at once (sessions without events are absent).
    public func heads(of sessions: [UUID]) async throws -> [UUID: Int32] {
        guard !sessions.isEmpty else { return [:] }
        let rows = try await pool.query("SELECT session_id, head_sequence FROM outline_event_streams WHERE session_id = ANY($1)", PostgresArray(sessions))
        var heads: [UUID: Int32] = [:]
        for row in rows { heads[try row.decode(UUID.self, at: 0)] = try row.decode(Int32.self, at: 1) }
        return heads
    }
}
