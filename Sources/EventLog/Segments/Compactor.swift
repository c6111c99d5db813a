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
///
/// Small sessions (at most `smallSessionEvents` events and
/// `smallSessionJSONBytes` of JSON, so one segment each) are compacted many to
/// a transaction into one pack (`EventPack`) instead: alone, a session of a
/// handful of events would keep more than its JSON. Such a transaction locks
/// only finished sessions' heads, in session-id order (two packers never
/// deadlock), and is as crash-safe as the one-session kind.
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
        /// Packs written, and the sessions in them (counted in `sessions` too).
        public var packs = 0
        public var packedSessions = 0
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
    /// A session this small goes into a pack (and only if it fits one segment).
    public var smallSessionEvents = 1024
    public var smallSessionJSONBytes = 32 << 10
    /// A pack closes at this many sessions or this much JSON.
    public var sessionsPerPack = 256
    public var jsonBytesPerPack = 256 << 10
    /// `compactPending` packs small sessions once at least this many wait, or
    /// when the oldest of them ended `packMaxWait` ago (a pack of two saves
    /// little; the background pass waits for company, `outline-admin compact` does not).
    public var packMinimumSessions = 1
    public var packMaxWait: Duration = .seconds(3600)
    private let logger: Logger

    public init(pool: PostgresPool, eventsPerSegment: Int = 4096, jsonBytesPerSegment: Int = 1 << 20,
                logger: Logger = Logger(label: "outlinestream.compaction")) {
        self.pool = pool
        self.eventsPerSegment = max(1, eventsPerSegment)
        self.jsonBytesPerSegment = max(1, jsonBytesPerSegment)
        self.logger = logger
    }

    /// The background pass's: small sessions wait for `packSessions - 1` others
    /// (or `packWait`) before they are packed, so that a pack shares its row among many.
    public static func background(pool: PostgresPool, packSessions: Int = 16, packWait: Duration = .seconds(3600), logger: Logger) -> Compactor {
        var compactor = Compactor(pool: pool, logger: logger)
        compactor.packMinimumSessions = max(1, packSessions)
        compactor.packMaxWait = packWait
        return compactor
    }

    /// A finished session waiting for compaction.
    public struct Pending: Sendable, Equatable {
        public var session: UUID
        public var events: Int
        /// Its payloads' JSON, summed; asked only for sessions small enough to pack.
        public var jsonSize: Int?
        public var endedAt: Date
    }

    /// Finished sessions not yet compacted whose last event is at least
    /// `settled` old, oldest end first.
    public func pending(settled: Duration = .zero, limit: Int = 1000) async throws -> [UUID] {
        try await pendingSessions(settled: settled, limit: limit).map(\.session)
    }

    /// `pending`, with what deciding between a pack and segments of its own needs.
    public func pendingSessions(settled: Duration = .zero, limit: Int = 1000) async throws -> [Pending] {
        try await pool.query(
            """
            SELECT s.session_id, s.head_sequence, e.recorded_at,
                   CASE WHEN s.head_sequence <= $4 THEN (SELECT sum(raw_size)::int8 FROM outline_events a WHERE a.session_id = s.session_id) END
              FROM outline_event_streams s
              JOIN outline_events e ON e.session_id = s.session_id AND e.sequence = s.head_sequence
             WHERE e.event_type = ANY($1) AND e.recorded_at <= now() - $2::int8 * interval '1 millisecond'
               AND NOT EXISTS (SELECT 1 FROM outline_compacted_sessions c WHERE c.session_id = s.session_id)
             ORDER BY e.recorded_at, s.session_id LIMIT $3
            """,
            PostgresArray(Array(EventCatalog.terminalEventTypes).sorted()), Int64(min(max(settled.secondsValue, 0), 1e12) * 1000),
            Int64(max(0, limit)), Int32(clamping: min(smallSessionEvents, eventsPerSegment))
        ).map {
            Pending(session: try $0.decode(UUID.self, at: 0), events: Int(try $0.decode(Int32.self, at: 1)),
                    jsonSize: try $0.decode(Int64?.self, at: 3).map(Int.init), endedAt: try $0.decode(Date.self, at: 2))
        }
    }

    func isSmall(_ pending: Pending) -> Bool {
        pending.events <= min(smallSessionEvents, eventsPerSegment) && (pending.jsonSize ?? .max) <= min(smallSessionJSONBytes, jsonBytesPerSegment)
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
        var small: [Pending] = []
        func count(_ session: UUID, _ outcome: Outcome) {
            switch outcome {
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
        }
        func flush() async throws {
            guard !small.isEmpty else { return }
            let members = small
            small = []
            let outcomes = try await pack(sessions: members.map(\.session))
            let packed = outcomes.filter { if case .compacted = $0.1 { true } else { false } }.count
            if packed > 0 {
                summary.packs += 1
                summary.packedSessions += packed
            }
            for (session, outcome) in outcomes { count(session, outcome) }
            await progress(summary)
        }
        while summary.sessions + summary.skipped + small.count < limit, !Task.isCancelled {
            let batch = try await pendingSessions(settled: settled, limit: min(500, limit - summary.sessions - summary.skipped - small.count))
                .filter { !seen.contains($0.session) }
            if batch.isEmpty { break }
            for pending in batch {
                if Task.isCancelled { break }
                seen.insert(pending.session)
                if isSmall(pending) {
                    let json = small.reduce(0) { $0 + ($1.jsonSize ?? 0) }, events = small.reduce(0) { $0 + $1.events }
                    if !small.isEmpty, small.count >= sessionsPerPack || json + (pending.jsonSize ?? 0) > jsonBytesPerPack
                        || events + pending.events > eventsPerSegment {
                        try await flush()
                    }
                    small.append(pending)
                    continue
                }
                count(pending.session, try await compact(session: pending.session))
                await progress(summary)
            }
        }
        // A few small sessions wait for company, unless the oldest has waited long enough.
        let oldest = small.map(\.endedAt).min() ?? .distantFuture
        if !Task.isCancelled, small.count >= packMinimumSessions || Date().timeIntervalSince(oldest) >= packMaxWait.secondsValue {
            try await flush()
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
            "SELECT session_id, head_sequence, head_link FROM outline_event_streams WHERE session_id = $1 FOR UPDATE", session)
        guard let headRow = headRows.first else { return .notFinished }
        if try connection.query("SELECT 1 FROM outline_compacted_sessions WHERE session_id = $1", session).count > 0 {
            return .alreadyCompacted
        }
        let head = try Head(headRow)
        let rows = try connection.query(
            "SELECT \(EventStore.selectColumns) FROM outline_events WHERE session_id = $1 AND sequence <= $2 ORDER BY sequence",
            session, head.sequence
        )
        var events: [SegmentEvent] = []
        events.reserveCapacity(rows.count)
        for row in rows { events.append(try EventStore.decodeStored(row)) }
        if let refusal = Self.refusal(events, head: head) { return refusal }

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
        try insertCompacted(session: session, events: events, segments: stored.count, jsonSize: jsonSize, storedSize: storedSize, pack: nil, on: connection)
        return .compacted(CompactedSession(sessionID: session, events: events.count, segments: stored.count, jsonSize: jsonSize, storedSize: storedSize))
    }

    /// Compacts small finished sessions into one pack, in one transaction; a
    /// session that is not finished, already compacted or does not verify is
    /// left out (its outcome says why) and the others are packed.
    public func pack(sessions: [UUID]) async throws -> [(UUID, Outcome)] {
        let started = ContinuousClock.now
        let outcomes = try await pool.withConnection { connection in
            try await connection.transaction { connection in try self.pack(sessions: sessions, on: connection) }
        }
        let packed = outcomes.compactMap { if case .compacted(let done) = $0.1 { done } else { nil } }
        if !packed.isEmpty {
            Counter(label: "outline_compacted_sessions_total").increment(by: packed.count)
            Counter(label: "outline_compacted_events_total").increment(by: packed.reduce(0) { $0 + $1.events })
            Counter(label: "outline_compaction_packs_total").increment()
            Timer(label: "outline_compaction_seconds").record(duration: ContinuousClock.now - started)
            logger.debug("packed small sessions", metadata: [
                "sessions": "\(packed.count)", "events": "\(packed.reduce(0) { $0 + $1.events })",
                "json_bytes": "\(packed.reduce(0) { $0 + $1.jsonSize })", "stored_bytes": "\(packed.reduce(0) { $0 + $1.storedSize })",
            ])
        }
        for case (let session, .chainBroken(let why)) in outcomes {
            logger.error("not compacting a session whose chain does not verify", metadata: ["session": "\(session)", "why": "\(why)"])
        }
        return outcomes
    }

    private func pack(sessions requested: [UUID], on connection: isolated PostgresConnection) throws -> [(UUID, Outcome)] {
        let ids = Array(Set(requested)).sorted { $0.uuidString < $1.uuidString }
        guard !ids.isEmpty else { return [] }
        // Locked in one order (session id) by every packer.
        var heads: [UUID: Head] = [:]
        for row in try connection.query(
            "SELECT session_id, head_sequence, head_link FROM outline_event_streams WHERE session_id = ANY($1) ORDER BY session_id FOR UPDATE",
            PostgresArray(ids)
        ) {
            let head = try Head(row)
            heads[head.session] = head
        }
        let compacted = Set(try connection.query("SELECT session_id FROM outline_compacted_sessions WHERE session_id = ANY($1)", PostgresArray(ids))
            .map { try $0.decode(UUID.self, at: 0) })
        let candidates = ids.filter { heads[$0] != nil && !compacted.contains($0) }
        var eventsOf: [UUID: [SegmentEvent]] = [:]
        if !candidates.isEmpty {
            for row in try connection.query(
                "SELECT \(EventStore.selectColumns) FROM outline_events WHERE session_id = ANY($1) ORDER BY session_id, sequence", PostgresArray(candidates)
            ) {
                let event = try EventStore.decodeStored(row)
                if event.sequence <= heads[try row.decode(UUID.self, at: 1)]!.sequence { eventsOf[try row.decode(UUID.self, at: 1), default: []].append(event) }
            }
        }
        var outcomes: [UUID: Outcome] = [:]
        var members: [EventPack.Member] = []
        for session in ids {
            guard let head = heads[session] else { outcomes[session] = .notFinished; continue }
            if compacted.contains(session) { outcomes[session] = .alreadyCompacted; continue }
            let events = eventsOf[session] ?? []
            if let refusal = Self.refusal(events, head: head) { outcomes[session] = refusal; continue }
            members.append(.init(session: session, segment: try EventSegment(events: events, previousLink: ChainLink.genesis)))
        }
        if !members.isEmpty {
            // In the order they ended, so neighbours in the block are alike in time.
            members.sort { ($0.segment.lastPosition, $0.session.uuidString) < ($1.segment.lastPosition, $1.session.uuidString) }
            let stored = try EventPack(members: members).compressed()
            let packID = try connection.query(
                """
                INSERT INTO outline_event_packs
                    (sessions, event_counts, first_position, last_position, first_recorded_at, last_recorded_at,
                     event_count, codec, body, packed_size, json_size, digest)
                VALUES ($1, $2, $3, $4, $5, $6, $7, \(EventSegment.codecLZ4), $8, $9, $10, $11)
                RETURNING pack_id
                """,
                PostgresArray(stored.sessions), PostgresArray(stored.eventCounts.map { Int32($0) }), stored.firstPosition, stored.lastPosition,
                PostgresTime.date(microseconds: stored.firstRecordedAtMicroseconds), PostgresTime.date(microseconds: stored.lastRecordedAtMicroseconds),
                Int32(stored.eventCount), PostgresBytes(stored.body), Int32(stored.packedSize), Int64(stored.jsonSize), PostgresBytes(stored.digest)
            )[0].decode(Int64.self, at: 0)
            for member in members {
                let jsonSize = member.segment.jsonSize
                // Its share of the block, by its share of the JSON.
                let storedSize = stored.jsonSize > 0 ? stored.body.count * jsonSize / stored.jsonSize : 0
                try insertCompacted(session: member.session, events: member.segment.events, segments: 1, jsonSize: jsonSize,
                                    storedSize: storedSize, pack: packID, on: connection)
                outcomes[member.session] = .compacted(CompactedSession(sessionID: member.session, events: member.segment.events.count, segments: 1,
                                                                       jsonSize: jsonSize, storedSize: storedSize))
            }
        }
        return ids.map { ($0, outcomes[$0]!) }
    }

    private func insertCompacted(session: UUID, events: [SegmentEvent], segments: Int, jsonSize: Int, storedSize: Int, pack: Int64?,
                                 on connection: isolated PostgresConnection) throws {
        try connection.query(
            """
            INSERT INTO outline_compacted_sessions (session_id, covered_through, segments, json_size, stored_size, problem_sequences, pack_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            session, events[events.count - 1].sequence, Int32(segments), Int64(jsonSize), Int64(storedSize),
            PostgresArray(events.filter { Self.problemTypes.contains($0.eventType) }.map(\.sequence)), pack
        )
    }

    /// A stream head as compaction reads it (locked).
    private struct Head {
        var session: UUID
        var sequence: Int32
        var link: [UInt8]

        init(_ row: PostgresRow) throws {
            session = try row.decode(UUID.self, at: 0)
            sequence = try row.decode(Int32.self, at: 1)
            link = try row.decode(PostgresBytes.self, at: 2).bytes
        }
    }

    /// Why a session's events, read up to its head, must not be compacted; nil when they may.
    private static func refusal(_ events: [SegmentEvent], head: Head) -> Outcome? {
        guard !events.isEmpty else { return .notFinished }
        var link = ChainLink.genesis
        for (index, event) in events.enumerated() {
            guard event.sequence == Int32(index) + 1 else {
                return .chainBroken("event \(index + 1) is missing (the next stored is \(event.sequence))")
            }
            link = ChainLink.next(previous: link, sequence: event.sequence, eventType: event.eventType, json: event.json)
            guard link == event.chainLink else { return .chainBroken("event \(event.sequence)'s link does not follow from its contents") }
        }
        guard events.count == Int(head.sequence), link == head.link else {
            return .chainBroken("the stream head (\(head.sequence)) does not match the events' chain")
        }
        guard EventCatalog.terminalEventTypes.contains(events[events.count - 1].eventType) else { return .notFinished }
        return nil
    }
}
