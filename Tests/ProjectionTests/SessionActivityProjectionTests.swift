import EventLog
import Foundation
import OutlineProjections
import Synchronization
import PostgresClient
import Testing
import TestSupport

/// The asynchronous `session_activity` read model: its projector, and a new
/// version introduced by an online rebuild while the log keeps growing.
@Suite("session_activity read model and online version swap")
struct SessionActivityProjectionTests {
    /// The read model computed straight from the log, for comparison.
    static let fromLog = """
        SELECT session_id, count(*)::int8 AS events, sum(raw_size)::int8 AS raw_bytes, min(recorded_at) AS first_event_at,
               max(recorded_at) AS last_event_at, sum(octet_length(payload))::int8 AS stored_bytes,
               (count(*) FILTER (WHERE event_type IN ('output_text.delta', 'reasoning.summary_delta')))::int8 AS content_events,
               (count(*) FILTER (WHERE event_type = 'session.resumed'))::int8 AS resumes
          FROM outline_events GROUP BY session_id
        """

    /// Rows of the live view that differ from the log, both ways, on `columns`.
    static func mismatches(_ pool: PostgresPool, columns: [String]) async throws -> Int64 {
        let list = (["session_id"] + columns).joined(separator: ", ")
        return try await pool.query("""
            SELECT count(*) FROM (
              (SELECT \(list) FROM (\(fromLog)) l EXCEPT SELECT \(list) FROM outline_session_activity)
              UNION ALL
              (SELECT \(list) FROM outline_session_activity EXCEPT SELECT \(list) FROM (\(fromLog)) l)) d
            """)[0].decode(Int64.self, at: 0)
    }

    static func appendSessions(_ store: EventStore, count: Int, deltas: Int, offset: Int = 0) async throws -> [UUID] {
        var sessions: [UUID] = []
        for i in 0..<count {
            let session = UUID()
            var events = SampleEvents.session(workflowId: "wf-act-\(offset + i)", deltas: deltas, seed: offset + i).map { NewEvent($0) }
            if i % 3 == 0 { events.insert(NewEvent(.resumed(SessionResumed(fromProviderSequence: 3, reason: "stream interrupted"))), at: 7) }
            try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: events))
            sessions.append(session)
        }
        return sessions
    }

    @Test("the projector folds exactly the log into version 1 and reports its checkpoint")
    func projectorFoldsTheLog() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            _ = try await Self.appendSessions(store, count: 12, deltas: 60)
            var projector = SessionActivityProjector(pool: pool, logger: TestDatabase.quietLogger)
            projector.batchSize = 100   // many batches, each its own transaction
            try await projector.catchUp()
            #expect(try await Self.mismatches(pool, columns: ["events", "raw_bytes", "first_event_at", "last_event_at"]) == 0)
            let states = try await ProjectionRegistry.states(pool)
            #expect(states.map(\.state.version) == [1])
            #expect(states.map(\.lag) == [0])
            #expect(try await projector.step() == .caughtUp)
        }
    }

    @Test("version 2 replaces version 1 with zero downtime while sessions append and the projector runs: nothing lost or doubled")
    func onlineVersionSwap() async throws {
        try await TestDatabase.withDatabase(maximumConnections: 10) { pool, _ in
            let store = EventStore(pool: pool)
            _ = try await Self.appendSessions(store, count: 20, deltas: 200)
            var projector = SessionActivityProjector(pool: pool, logger: TestDatabase.quietLogger)
            projector.batchSize = 500
            projector.idleInterval = .milliseconds(5)
            let running = Task { [projector] in await projector.run() }
            // Appends keep coming before, during and after the rebuild (until five sessions
            // landed after the swap), and readers keep reading the view.
            let phase = SwapPhase()
            let appending = Task {
                var appended = 0
                while true {
                    _ = try await Self.appendSessions(store, count: 1, deltas: 40, offset: 1000 + appended)
                    appended += 1
                    if phase.state.withLock({ state in
                        if state.swapped { state.appendedAfter += 1 }
                        return state.appendedAfter >= 5
                    }) { return appended }
                }
            }
            try await Deadline.wait(for: "three sessions appended beside the 20 already there", within: .seconds(60), every: .milliseconds(5)) {
                try await pool.query("SELECT count(*) FROM outline_event_streams")[0].decode(Int64.self, at: 0) >= 23
            }
            let reading = Task {
                var reads = 0
                while !Task.isCancelled {
                    _ = try await pool.query("SELECT count(*), sum(events) FROM outline_session_activity")
                    reads += 1
                    try? await Task.sleep(for: .milliseconds(2))
                }
                return reads
            }
            var rebuild = SessionActivityRebuild(pool: pool, version: .v2, logger: TestDatabase.quietLogger)
            rebuild.pageSize = 1000
            let report = try await rebuild.run(.swap(verify: true))
            phase.state.withLock { $0.swapped = true }
            #expect(report.swapped)
            #expect(report.previousVersion == 1 && report.version == 2)
            #expect(report.differences == [])
            #expect(report.comparedColumns == ["events", "raw_bytes", "first_event_at", "last_event_at"])
            let appended = try await appending.value
            #expect(try await store.lastPosition() > report.checkpoint)   // the projector carried on after the swap
            reading.cancel()
            #expect(try await reading.value > 0)   // the view answered throughout (a failed read would have thrown)
            running.cancel()
            await running.value
            try await projector.catchUp()

            #expect(try await Self.mismatches(pool, columns: ["events", "raw_bytes", "first_event_at", "last_event_at",
                                                             "stored_bytes", "content_events", "resumes"]) == 0)
            let state = try #require(try await ProjectionRegistry.states(pool).first?.state)
            #expect(state.version == 2)
            #expect(state.tableName == report.table)
            let tables = try await pool.query("SELECT tablename FROM pg_tables WHERE tablename LIKE 'outline\\_session\\_activity\\_v%' ORDER BY 1")
                .map { try $0.decode(String.self, at: 0) }
            #expect(tables == [report.table])   // version 1's table is gone, no build left behind
            #expect(try await pool.query("SELECT sum(resumes)::int8 FROM outline_session_activity")[0].decode(Int64.self, at: 0) == Int64(7 + appended))   // every third first session, and each one-session append
        }
    }

    @Test("a dry run reports a drifted row column by column and changes nothing")
    func dryRunChangesNothing() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let sessions = try await Self.appendSessions(store, count: 5, deltas: 30)
            try await SessionActivityProjector(pool: pool, logger: TestDatabase.quietLogger).catchUp()
            try await pool.query("UPDATE outline_session_activity_v1 SET events = events + 1 WHERE session_id = $1", sessions[3])
            // Events the projector has not folded yet: the dry run compares at one point of the log all the same.
            _ = try await Self.appendSessions(store, count: 2, deltas: 10, offset: 50)
            let before = try #require(try await ProjectionRegistry.states(pool).first?.state)

            let report = try await SessionActivityRebuild(pool: pool, version: .v1, logger: TestDatabase.quietLogger).run(.dryRun)
            #expect(!report.swapped)
            #expect(report.differences?.count == 1)
            #expect(report.differences?.first?.sessionID == sessions[3])
            #expect(report.differences?.first?.columns.map(\.name) == ["events"])

            #expect(try await ProjectionRegistry.states(pool).first?.state == before)
            let tables = try await pool.query("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'outline\\_session\\_activity\\_v%'")[0].decode(Int64.self, at: 0)
            #expect(tables == 1)
            // A verified swap refuses to go ahead on the same drift.
            await #expect(throws: ProjectionError.verifyFailed(differences: 1)) {
                try await SessionActivityRebuild(pool: pool, version: .v2, logger: TestDatabase.quietLogger).run(.swap(verify: true))
            }
            #expect(try await ProjectionRegistry.states(pool).first?.state.version == 1)
        }
    }
}

/// Whether the swap happened, and how many sessions were appended after it.
final class SwapPhase: Sendable {
    let state = Mutex((swapped: false, appendedAfter: 0))
}
