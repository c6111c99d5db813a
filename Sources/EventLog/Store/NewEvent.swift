import Foundation

/// An event about to be appended, with the moment it happened.
public struct NewEvent: Sendable, Equatable {
    public var event: OutlineEvent
    /// Rounded to whole microseconds, the precision PostgreSQL keeps, so a fold
    /// over events before they are stored sees the same times as one after.
    public var recordedAt: Date

    public init(_ event: OutlineEvent, recordedAt: Date = Date()) {
        self.event = event
        self.recordedAt = Date(timeIntervalSince1970: (recordedAt.timeIntervalSince1970 * 1_000_000).rounded() / 1_000_000)
    }
}

/// Events for one session, appended only if the session's log ends at
/// `expectedSequence` (0 for a new session): optimistic concurrency.
public struct StreamAppend: Sendable {
    public var sessionID: UUID
    public var expectedSequence: Int32
    public var events: [NewEvent]

    public init(sessionID: UUID, expectedSequence: Int32, events: [NewEvent]) {
        self.sessionID = sessionID
        self.expectedSequence = expectedSequence
        self.events = events
    }
}

/// An event as an inline projection sees it: numbered, not yet committed.
public struct AppendedEvent: Sendable {
    public var sessionID: UUID
    public var sequence: Int32
    public var recordedAt: Date
    public var event: OutlineEvent
}

/// Where an append left a session's log.
public struct AppendResult: Sendable, Equatable {
    public var sessionID: UUID
    public var firstSequence: Int32
    public var lastSequence: Int32
    /// The global position of the last event of the whole transaction.
    public var lastPosition: Int64
}
