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
    public func readFeed(session: UUID, after sequence: Int32, limit: Int = 1000) async throws -> [FeedEvent] {
        try await storedEvents(session: session, after: sequence, limit: limit).map(FeedEvent.init)
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
