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
            let eventSequence = try row.decode(Int32.self, at: 0)
            guard eventSequence > covered else { continue }
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
            events.append(FeedEvent(sequence: eventSequence, eventType: try row.decode(String.self, at: 1), json: json, recordedAt: try row.decode(Date.self, at: 5)))
        }
        return events
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
