import Foundation
import Logging
import Metrics
import OutlineBasics
import PostgresClient

/// Moves finished sessions' events from hot rows into LZ4 segments, one
/// session per transaction.
///
/// Safe online and safe to repeat: a session's stream head is locked for the
/// transaction (an append to it waits), a session already compacted is
/// skipped, and the segments and the session's `outline_compacted_sessions` row
/// commit together or not at all, so a crash mid-way leaves the session as it
/// was. The hot rows stay (the log is append-only); readers skip them once the
/// segments cover them, and they leave with their partition.
///
/// A session is compacted only if its chain verifies: a segment must never
/// make a tampered event look original.
public struct Compactor: Sendable {
    public enum Outcome: Sendable, Equatable {
        case compacted(CompactedSession)
        case alreadyCompacted
        /// The session has no terminal event yet (or has no events).
        case notFinished
        /// Its chain does not verify from the hot rows; it stays hot for an audit.
        case chainBroken(String)
    }

    public struct CompactedSession: Sendable, Equatable {
        public var sessionID: UUID
        public var events: Int
        public var segments: Int
        public var jsonSize: Int
        /// Bytes of the segments' bodies.
        public var storedSize: Int
    }

    public struct Summary: Sendable, Equatable {
        public var sessions = 0
        public var events = 0
        public var jsonSize = 0
        public var storedSize = 0
        public var skipped = 0
        public var broken: [UUID] = []
        public init() {}
    }

    /// The types the diagnostics page counts, kept per compacted session.
    public static let problemTypes: Set<String> = [SessionFailed.eventType, SessionResumed.eventType]

    public let pool: PostgresPool
    /// A segment closes at this many events or this much JSON, whichever comes first.
    public var eventsPerSegment: Int
    public var jsonBytesPerSegment: Int
    private let logger: Logger

    public init(pool: PostgresPool, eventsPerSegment: Int = 4096, jsonBytesPerSegment: Int = 1 << 20,
                logger: Logger = Logger(label: "outlinestream.compaction")) {
        self.pool = pool
        self.eventsPerSegment = max(1, eventsPerSegment)
        self.jsonBytesPerSegment = max(1, jsonBytesPerSegment)
        self.logger = logger
    }

    /// Finished sessions not yet compacted whose last event is at least
    /// `settled` old, oldest end first.
    public func pending(settled: Duration = .zero, limit: Int = 1000) async throws -> [UUID] {
        try await pool.query(
            """
            SELECT s.session_id FROM outline_event_streams s
              JOIN outline_events e ON e.session_id = s.session_id AND e.sequence = s.head_sequence
             WHERE e.event_type = ANY($1) AND e.recorded_at <= now() - $2::int8 * interval '1 millisecond'
               AND NOT EXISTS (SELECT 1 FROM outline_compacted_sessions c WHERE c.session_id = s.session_id)
             ORDER BY e.recorded_at, s.session_id LIMIT $3
            """,
            PostgresArray(Array(EventCatalog.terminalEventTypes).sorted()), Int64(min(max(settled.secondsValue, 0), 1e12) * 1000),
            Int64(max(0, limit))
        ).map { try $0.decode(UUID.self, at: 0) }
    }

    /// How many sessions `pending` would name with no limit (a progress bar's total).
    public func pendingCount(settled: Duration = .zero) async throws -> Int {
        try await pending(settled: settled, limit: Int(Int32.max)).count
    }

    /// Compacts every pending session, one transaction each, telling `progress`
    /// after each. Stops early when the task is cancelled.
    public func compactPending(settled: Duration = .zero, limit: Int = .max,
                               progress: (Summary) async -> Void = { _ in }) async throws -> Summary {
        var summary = Summary()
        var seen = Set<UUID>()
        while summary.sessions + summary.skipped < limit, !Task.isCancelled {
            let batch = try await pending(settled: settled, limit: min(500, limit - summary.sessions - summary.skipped))
                .filter { !seen.contains($0) }
            if batch.isEmpty { break }
            for session in batch {
                if Task.isCancelled { break }
                seen.insert(session)
                switch try await compact(session: session) {
                case .compacted(let done):
                    summary.sessions += 1
                    summary.events += done.events
                    summary.jsonSize += done.jsonSize
                    summary.storedSize += done.storedSize
                case .alreadyCompacted, .notFinished:
                    summary.skipped += 1
                case .chainBroken:
                    summary.skipped += 1
                    summary.broken.append(session)
                }
                await progress(summary)
            }
        }
        return summary
    }

    /// Compacts one session in a transaction of its own.
    public func compact(session: UUID) async throws -> Outcome {
        let started = ContinuousClock.now
        let outcome = try await pool.withConnection { connection in
            try await connection.transaction { connection in try self.compact(session: session, on: connection) }
        }
        if case .compacted(let done) = outcome {
            Counter(label: "outline_compacted_sessions_total").increment()
            Counter(label: "outline_compacted_events_total").increment(by: done.events)
            Timer(label: "outline_compaction_seconds").record(duration: ContinuousClock.now - started)
            logger.debug("compacted session", metadata: [
                "session": "\(session)", "events": "\(done.events)", "segments": "\(done.segments)",
                "json_bytes": "\(done.jsonSize)", "stored_bytes": "\(done.storedSize)",
            ])
        } else if case .chainBroken(let why) = outcome {
            logger.error("not compacting a session whose chain does not verify", metadata: ["session": "\(session)", "why": "\(why)"])
        }
        return outcome
    }

    private func compact(session: UUID, on connection: isolated PostgresConnection) throws -> Outcome {
        let headRows = try connection.query(
            "SELECT head_sequence, head_link FROM outline_event_streams WHERE session_id = $1 FOR UPDATE", session)
        guard let headRow = headRows.first else { return .notFinished }
        let headSequence = try headRow.decode(Int32.self, at: 0)
        let headLink = try headRow.decode(PostgresBytes.self, at: 1).bytes
        if try connection.query("SELECT 1 FROM outline_compacted_sessions WHERE session_id = $1", session).count > 0 {
            return .alreadyCompacted
        }
        let rows = try connection.query(
            "SELECT \(EventStore.selectColumns) FROM outline_events WHERE session_id = $1 AND sequence <= $2 ORDER BY sequence",
            session, headSequence
        )
        guard rows.count > 0 else { return .notFinished }
        var events: [SegmentEvent] = []
        events.reserveCapacity(rows.count)
        var link = ChainLink.genesis
        for row in rows {
            let event = try EventStore.decodeStored(row)
            guard event.sequence == Int32(events.count) + 1 else {
                return .chainBroken("event \(events.count + 1) is missing (the next stored is \(event.sequence))")
            }
            link = ChainLink.next(previous: link, sequence: event.sequence, eventType: event.eventType, json: event.json)
            guard link == event.chainLink else { return .chainBroken("event \(event.sequence)'s link does not follow from its contents") }
            events.append(event)
        }
        guard events.count == Int(headSequence), link == headLink else {
            return .chainBroken("the stream head (\(headSequence)) does not match the events' chain")
        }
        guard let last = events.last, EventCatalog.terminalEventTypes.contains(last.eventType) else { return .notFinished }

        var stored: [StoredSegment] = []
        var start = 0
        while start < events.count {
            var end = start
            var bytes = 0
            while end < events.count, end - start < eventsPerSegment, end == start || bytes + events[end].json.count <= jsonBytesPerSegment {
                bytes += events[end].json.count
                end += 1
            }
            stored.append(try EventSegment(events: Array(events[start..<end]), previousLink: start == 0 ? ChainLink.genesis : events[start - 1].chainLink).compressed())
            start = end
        }
        for segment in stored {
            try connection.query(
                """
                INSERT INTO outline_event_segments
                    (session_id, first_sequence, last_sequence, first_position, last_position, first_recorded_at, last_recorded_at,
                     event_count, codec, body, packed_size, json_size, digest)
                VALUES ($1, $2, $3, $4, $5, $11, $12, $6, \(EventSegment.codecLZ4), $7, $8, $9, $10)
                """,
                session, segment.firstSequence, segment.lastSequence, segment.firstPosition, segment.lastPosition,
                Int32(segment.eventCount), PostgresBytes(segment.body), Int32(segment.packedSize), Int64(segment.jsonSize),
                PostgresBytes(segment.digest), PostgresTime.date(microseconds: segment.firstRecordedAtMicroseconds),
                PostgresTime.date(microseconds: segment.lastRecordedAtMicroseconds)
            )
        }
        let jsonSize = stored.reduce(0) { $0 + $1.jsonSize }
        let storedSize = stored.reduce(0) { $0 + $1.body.count }
        try connection.query(
            """
            INSERT INTO outline_compacted_sessions (session_id, covered_through, segments, json_size, stored_size, problem_sequences)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            session, headSequence, Int32(stored.count), Int64(jsonSize), Int64(storedSize),
            PostgresArray(events.filter { Self.problemTypes.contains($0.eventType) }.map(\.sequence))
        )
        return .compacted(CompactedSession(sessionID: session, events: events.count, segments: stored.count, jsonSize: jsonSize, storedSize: storedSize))
    }
}
