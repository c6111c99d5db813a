import Foundation
import OutlineBasics
import Logging
import Metrics
import PostgresClient

/// The append-only event log in PostgreSQL: append with optimistic concurrency,
/// read a session or the whole log in order.
///
/// An append commits its events, every inline projection's changes and one NOTIFY
/// per session in one transaction. Many sessions' events can share one append
/// (see `GroupCommitWriter`): fewer, larger transactions are what makes the log fast.
public final class EventStore: Sendable {
    public let pool: PostgresPool
    public let projections: [any InlineProjection]
    /// Told of every commit this store makes (the live hub's short path).
    public let commits = CommitObservers()
    /// The torture pass's kill window inside a batch (`CommitPauseHook`); nil in production.
    public let commitPause: CommitPauseHook?
    /// Decoded segments of compacted sessions, for replays that read them page by page.
    let segmentCache = SegmentCache()
    private let logger: Logger
    private let appended = Counter(label: "outline_events_appended_total")
    private let appendLatency = Timer(label: "outline_append_batch_seconds")
    /// From the oldest event's creation to its commit: buffering, queueing and the transaction.
    private let recordToCommit = Timer(label: "outline_append_wait_seconds")
    /// The same, as the live path's second stage beside the others (`outline_live_stage_seconds`).
    private let runnerToCommit = Timer(label: "outline_live_stage_seconds", dimensions: [("stage", "runner_to_commit")])
    /// Where an append's transaction spends its time (`outline_append_phase_seconds{phase=…}`):
    /// waiting for a connection and its thread, BEGIN with the heads, the inline
    /// projections, the append function with COMMIT, and getting a cooperative
    /// thread back afterwards (single appends; flushers stay on the thread).
    /// `commit` is timed apart only when the torture pass's commit pause
    /// separates COMMIT from the append.
    private let phases = AppendPhaseTimers()

    public init(pool: PostgresPool, projections: [any InlineProjection] = [], commitPause: CommitPauseHook? = nil,
                logger: Logger = Logger(label: "outlinestream.eventlog")) {
        self.pool = pool
        self.projections = projections
        self.commitPause = commitPause
        self.logger = logger
    }

    // MARK: Appending

    /// Appends in a transaction of its own.
    @discardableResult
    public func append(_ append: StreamAppend) async throws -> AppendResult {
        try await self.append([append])[0]
    }

    /// Appends the events of several sessions in one transaction: all or nothing.
    @discardableResult
    public func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        try await append(encoded: try appends.map(EncodedAppend.init))
    }

    func append(encoded appends: [EncodedAppend]) async throws -> [AppendResult] {
        let started = ContinuousClock.now
        do {
            let (results, committedAt) = try await pool.withConnection { connection in
                try await connection.run { connection in
                    phases.checkout.recordNanoseconds((ContinuousClock.now - started).saturatingNanoseconds)
                    return try self.commit(appends, on: connection, started: started)
                }
            }
            phases.resume.recordNanoseconds((ContinuousClock.now - committedAt).saturatingNanoseconds)
            return results
        } catch let error as PostgresError {
            throw Self.translate(error)
        }
    }

    /// Commits batch after batch in transactions of their own, back to back on
    /// one connection's thread, until `next` has none: no wait for a connection
    /// or for a cooperative thread between them (the group commit writer's
    /// flusher; each wait cost 0.5–2 ms a batch). `committed` is told of each
    /// batch's results on that thread. The first batch that fails ends the loop
    /// and is returned with its error, for the caller to deal with.
    func appendBatches<Batch: Sendable>(
        next: @escaping @Sendable () -> Batch?,
        appends: @escaping @Sendable (Batch) -> [EncodedAppend],
        committed: @escaping @Sendable (Batch, [AppendResult]) -> Void
    ) async throws -> (batch: Batch, error: any Error)? {
        let started = ContinuousClock.now
        return try await pool.withConnection { connection in
            try await connection.run { connection -> (batch: Batch, error: any Error)? in
                phases.checkout.recordNanoseconds((ContinuousClock.now - started).saturatingNanoseconds)
                while let batch = next() {
                    do {
                        let (results, _) = try self.commit(appends(batch), on: connection, started: .now)
                        committed(batch, results)
                    } catch let error as PostgresError {
                        return (batch, Self.translate(error))
                    } catch {
                        return (batch, error)
                    }
                }
                return nil
            }
        }
    }

    /// One append transaction on the connection's thread, timed phase by phase;
    /// the committed events are handed over right after COMMIT, still there,
    /// so they reach the feeds without queueing for a cooperative thread first.
    private func commit(_ appends: [EncodedAppend], on connection: isolated PostgresConnection,
                        started: ContinuousClock.Instant) throws -> (results: [AppendResult], committedAt: ContinuousClock.Instant) {
        let prepared = try PreparedAppend(appends)
        let token = commits.isEmpty ? nil : commits.beginCommit()
        defer { if let token { commits.endCommit(token) } }
        let onThread = ContinuousClock.now
        let results: [AppendResult], afterCommit: [@Sendable () -> Void]
        // Two round trips: BEGIN with the heads, the append function with COMMIT
        // (with the torture pass's commit pause armed, COMMIT goes after it).
        do {
            (results, afterCommit) = try write(prepared, on: connection, handingOver: token, since: onThread, pipelined: true)
        } catch {
            connection.rollbackIfConnected()
            throw error
        }
        let committedAt = ContinuousClock.now
        afterCommit.forEach { $0() }
        appendLatency.record(duration: ContinuousClock.now - started)
        LiveSignals.shared.record(.append, seconds: (ContinuousClock.now - started).secondsValue)
        if let oldest = appends.lazy.compactMap({ $0.events.first?.source.recordedAt }).min() {
            let waited = Date().timeIntervalSince(oldest).clampedNanoseconds
            recordToCommit.recordNanoseconds(waited)
            runnerToCommit.recordNanoseconds(waited)
        }
        appended.increment(by: appends.reduce(0) { $0 + $1.eventCount })
        return (results, committedAt)
    }

    /// Appends inside a transaction the caller already opened on `connection`.
    @discardableResult
    /// Projections' after-commit actions are returned for the caller to run once its transaction commits.
    public func append(_ appends: [StreamAppend], on connection: isolated PostgresConnection) throws -> (results: [AppendResult], afterCommit: [@Sendable () -> Void]) {
        do {
            return try write(try PreparedAppend(appends.map(EncodedAppend.init)), on: connection)
        } catch let error as PostgresError {
            throw Self.translate(error)
        }
    }

    /// `handingOver`: the `CommitObservers` token under which this transaction's
    /// heads are in flight until its events are handed over, so the hub skips its
    /// NOTIFY (nil: the caller commits, and the feeds hear its NOTIFY too).
    /// `pipelined`: this opens and commits the transaction itself, BEGIN sent with
    /// the heads query and COMMIT with the append function (two round trips
    /// instead of four; `heads` and `append_function` then include them); the
    /// caller rolls back if it throws.
    private func write(_ prepared: PreparedAppend, on connection: isolated PostgresConnection, handingOver token: Int? = nil,
                       since begun: ContinuousClock.Instant? = nil, pipelined: Bool = false) throws -> (results: [AppendResult], afterCommit: [@Sendable () -> Void]) {
        let sessionIDs = prepared.streams.map(\.sessionID)
        let headsQuery = PostgresConnection.Statement(
            "SELECT session_id, head_sequence, head_link FROM outline_event_streams WHERE session_id = ANY($1) ORDER BY session_id FOR UPDATE",
            [PostgresArray(sessionIDs)]
        )
        let heads = pipelined
            ? try connection.pipeline([PostgresConnection.Statement("BEGIN"), headsQuery])[1]
            : try connection.query(headsQuery.sql, binds: headsQuery.binds)
        var current: [UUID: (sequence: Int32, link: [UInt8])] = [:]
        for row in heads {
            current[try row.decode(UUID.self, at: 0)] = (try row.decode(Int32.self, at: 1), try row.decode(PostgresBytes.self, at: 2).bytes)
        }
        let chained = try prepared.chain(onto: current)
        var mark = ContinuousClock.now
        if let begun { phases.heads.recordNanoseconds((mark - begun).saturatingNanoseconds) }
        if let token { commits.committing(token, heads: chained.streams.map { ($0.sessionID, $0.expected + $0.count) }) }
        var afterCommit: [@Sendable () -> Void] = []
        if !projections.isEmpty {
            let appended = chained.events.map {
                AppendedEvent(sessionID: $0.sessionID, sequence: $0.sequence, recordedAt: $0.source.recordedAt, event: $0.source.event)
            }
            for projection in projections {
                if let action = try projection.apply(appended, on: connection) { afterCommit.append(action) }
            }
        }
        if begun != nil {
            let now = ContinuousClock.now
            phases.projections.recordNanoseconds((now - mark).saturatingNanoseconds)
            mark = now
        }
        let appendSQL = "SELECT outline_append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        let rows: PostgresRows
        if pipelined, commitPause == nil {
            rows = try connection.pipeline([PostgresConnection.Statement(appendSQL, chained.binds), PostgresConnection.Statement("COMMIT")])[0]
        } else {
            rows = try connection.query(appendSQL, binds: chained.binds)
        }
        let lastPosition = try rows[0].decode(Int64.self, at: 0)
        if begun != nil { phases.function.recordNanoseconds((ContinuousClock.now - mark).saturatingNanoseconds) }
        commitPause?.beforeCommit(events: chained.events.count, sessions: chained.streams.count)
        if pipelined, commitPause != nil {
            // The torture pass's kill window sits between the append and COMMIT.
            let paused = ContinuousClock.now
            try connection.execute("COMMIT")
            phases.commit.recordNanoseconds((ContinuousClock.now - paused).saturatingNanoseconds)
        }
        let results = chained.streams.map {
            AppendResult(sessionID: $0.sessionID, firstSequence: $0.expected + 1, lastSequence: $0.expected + $0.count, lastPosition: lastPosition)
        }
        if !commits.isEmpty {
            let committed = Self.committedEvents(chained.events)
            afterCommit.append { [commits] in
                let now = ContinuousClock.now
                commits.notify(committed.map { CommittedEvents(sessionID: $0.0, events: $0.1, committedAt: now) })
            }
        }
        return (results, afterCommit)
    }

    /// The chained events grouped by session, in order, as feeds take them.
    private static func committedEvents(_ events: [PreparedAppend.ChainedEvent]) -> [(UUID, [FeedEvent])] {
        var groups: [(UUID, [FeedEvent])] = []
        for event in events {
            let feedEvent = FeedEvent(sequence: event.sequence, eventType: event.eventType, json: event.json, recordedAt: event.source.recordedAt)
            if let last = groups.indices.last, groups[last].0 == event.sessionID {
                groups[last].1.append(feedEvent)
            } else {
                groups.append((event.sessionID, [feedEvent]))
            }
        }
        return groups
    }

    static func translate(_ error: PostgresError) -> any Error {
        switch error.sqlState {
        case "OS409":
            let parts = (error.detail ?? "").split(separator: ":")
            if parts.count == 2, let session = UUID(uuidString: String(parts[0])), let actual = Int32(parts[1]) {
                let expected = Int32(error.message.split(separator: " ").last.flatMap { Int32($0) } ?? -1)
                return EventLogError.sequenceConflict(sessionID: session, expected: expected, actual: actual)
            }
            return error
        case "23505" where error.constraint == "outline_events_provider_sequence_once":
            let session = (error.detail ?? "").split(whereSeparator: { "()=, ".contains($0) }).compactMap { UUID(uuidString: String($0)) }.first
            return EventLogError.duplicateProviderEvent(sessionID: session ?? UUID(uuidString: "00000000-0000-0000-0000-000000000000")!, providerSequence: nil)
        default:
            return error
        }
    }

    // MARK: Reading

    /// The columns `decode` reads, in its order.
    public static let selectColumns = """
        position, session_id, sequence, event_type, schema_version, codec, payload, raw_size,
        provider_sequence, recorded_at, chain_link
        """

    /// A session's events after `sequence`, in order, at most `limit`, from
    /// segments and hot rows alike.
    public func read(session: UUID, after sequence: Int32 = 0, limit: Int = 1000) async throws -> [RecordedEvent] {
        try await storedEvents(session: session, after: sequence, limit: limit).map { try Self.recorded($0, session: session) }
    }

    /// The whole log after global `position`, in order, at most `limit`, from
    /// hot rows and segments alike (`LogScan`; walk with one of those to read on).
    public func readLog(after position: Int64, limit: Int = 1000) async throws -> [RecordedEvent] {
        let scan = LogScan(after: position)
        let page = try await pool.withConnection { connection in try await connection.run { try scan.next(limit: limit, on: $0) } }
        return try page.map { try Self.recorded($0.event, session: $0.session) }
    }

    /// The session's head: its last sequence number (0 when it has no events) and chain link.
    public func head(of session: UUID) async throws -> (sequence: Int32, link: [UInt8]) {
        let rows = try await pool.query("SELECT head_sequence, head_link FROM outline_event_streams WHERE session_id = $1", session)
        guard let row = rows.first else { return (0, ChainLink.genesis) }
        return (try row.decode(Int32.self, at: 0), try row.decode(PostgresBytes.self, at: 1).bytes)
    }

    /// The global position of the newest committed event.
    public func lastPosition() async throws -> Int64 {
        try await pool.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
    }

    /// Decodes a row selected with `selectColumns`, in that order.
    public static func decode(_ row: PostgresRow) throws -> RecordedEvent {
        let position = try row.decode(Int64.self, at: 0)
        let sessionID = try row.decode(UUID.self, at: 1)
        let sequence = try row.decode(Int32.self, at: 2)
        let eventType = try row.decode(String.self, at: 3)
        let schemaVersion = try row.decode(Int16.self, at: 4)
        let codecValue = try row.decode(Int16.self, at: 5)
        let stored = try row.decode(PostgresBytes.self, at: 6).bytes
        let rawSize = try row.decode(Int.self, at: 7)
        let providerSequence = try row.decode(Int32?.self, at: 8)
        let recordedAt = try row.decode(Date.self, at: 9)
        let chainLink = try row.decode(PostgresBytes.self, at: 10).bytes
        func damaged(_ reason: String) -> EventLogError {
            .corruptPayload(sessionID: sessionID, sequence: sequence, position: position, reason: reason)
        }
        guard let codec = PayloadCodec(rawValue: codecValue) else { throw damaged(PayloadCodecError.unknownCodec(codecValue).description) }
        let json: [UInt8]
        do {
            json = try codec.decode(stored, rawSize: rawSize)
        } catch {
            throw damaged(String(describing: error))
        }
        let event: OutlineEvent
        do {
            event = try EventCatalog.decode(eventType: eventType, schemaVersion: schemaVersion, json: json, providerSequence: providerSequence)
        } catch {
            throw damaged("its JSON does not match \(eventType) v\(schemaVersion): \(error)")
        }
        return RecordedEvent(
            position: position, sessionID: sessionID, sequence: sequence, eventType: eventType,
            schemaVersion: schemaVersion, codec: codec, storedSize: stored.count, rawSize: rawSize,
            providerSequence: providerSequence, recordedAt: recordedAt, chainLink: chainLink, json: json, event: event
        )
    }
}
