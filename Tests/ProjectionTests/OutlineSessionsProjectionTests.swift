import EventLog
import Foundation
import OutlineProjections
import PostgresClient
import Testing
import TestSupport

@Suite("outline_sessions read model")
struct OutlineSessionsProjectionTests {
    static func store(_ pool: PostgresPool) -> EventStore {
        EventStore(pool: pool, projections: [OutlineSessionsProjection()])
    }

    /// Appends generated sessions concurrently in small batches through the group writer.
    static func appendHistories(_ store: EventStore, sessions: Int, deltas: Int) async throws -> [UUID: [OutlineEvent]] {
        let writer = GroupCommitWriter(store: store)
        var histories: [UUID: [OutlineEvent]] = [:]
        for i in 0..<sessions {
            histories[UUID()] = SampleEvents.session(workflowId: "wf-\(i)", deltas: deltas, seed: i)
        }
        let all = histories
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (session, events) in all {
                group.addTask {
                    var expected: Int32 = 0
                    var index = 0
                    while index < events.count {
                        let size = min(events.count - index, Int.random(in: 1...12))
                        let batch = events[index..<(index + size)].map { NewEvent($0) }
                        expected = try await writer.append(StreamAppend(sessionID: session, expectedSequence: expected, events: batch)).lastSequence
                        index += size
                    }
                }
            }
            try await group.waitForAll()
        }
        return histories
    }

    @Test("the inline projection equals a rebuild from the log: 100 sessions, over 10,000 events")
    func inlineEqualsRebuild() async throws {
        try await TestDatabase.withDatabase(maximumConnections: 10) { pool, _ in
            let projection = OutlineSessionsProjection()
            let store = EventStore(pool: pool, projections: [projection])
            let histories = try await Self.appendHistories(store, sessions: 100, deltas: 90)
            let events = try await store.lastPosition()
            #expect(events >= 10_000)
            // Most appends moved only the progress columns and took the narrow path; every path was taken.
            #expect(projection.writes.progress > projection.writes.grown + projection.writes.whole)
            #expect(projection.writes.whole > 0 && projection.writes.grown > 0, "whole \(projection.writes.whole), grown \(projection.writes.grown)")
            let rebuild = try OutlineSessionsRebuild(pool: pool, logger: TestDatabase.quietLogger)
            let report = try await rebuild.run(verify: true, swap: false)
            #expect(report.eventsFolded == events)
            #expect(report.sessions == 100)
            #expect(report.differences == [])

            // The rows say what the histories say.
            let sessions = OutlineSessions(store: store)
            for (session, history) in histories.prefix(10) {
                let row = try #require(try await sessions.row(session))
                let text = history.compactMap { event -> String? in
                    if case .outputTextDelta(let delta) = event { return delta.delta } else { return nil }
                }.joined()
                #expect(row.outputText == text)
                #expect(row.lastEventSequence == Int32(history.count))
                #expect(row.isActive == !(history.last?.isTerminal ?? false))
            }
        }
    }

    @Test("a rebuild reports a drifted row column by column, and the swap repairs it")
    func rebuildFindsAndRepairsDrift() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = Self.store(pool)
            let histories = try await Self.appendHistories(store, sessions: 5, deltas: 20)
            let drifted = histories.keys.sorted { $0.uuidString < $1.uuidString }[2]
            try await pool.query("UPDATE outline_session_rows SET web_searches_done = 99 WHERE id = $1", drifted)
            try await pool.query("INSERT INTO outline_session_text VALUES ($1, 100000, ' drift', '')", drifted)
            let rebuild = try OutlineSessionsRebuild(pool: pool, logger: TestDatabase.quietLogger)
            let dryRun = try await rebuild.run(verify: false, swap: false, dryRun: true)
            let left = try await pool.query("SELECT count(*) FROM pg_class WHERE relname LIKE 'outline\\_session%\\_rebuild'")[0].decode(Int64.self, at: 0)
            #expect(left == 0)   // the dry run dropped what it built
            let difference = try #require(dryRun.differences?.first)
            #expect(dryRun.differences?.count == 1)
            #expect(difference.sessionID == drifted)
            #expect(difference.columns.map(\.name) == ["output_text", "web_searches_done"])

            let swapped = try await rebuild.run(verify: true, swap: true)
            #expect(swapped.swapped)
            #expect(try await rebuild.run(verify: true, swap: false).differences == [])
            // The swapped-in table kept its indexes' names, which the invariants rely on.
            let health = try await SchemaHealth.check(Migrator(pool: pool, migrations: try TestDatabase.migrations(), logger: TestDatabase.quietLogger))
            #expect(health.isHealthy, "\(health.problems)")
        }
    }

    @Test("a rebuild with swap while sessions keep appending loses no write")
    func swapDuringAppends() async throws {
        try await TestDatabase.withDatabase(maximumConnections: 10) { pool, _ in
            let store = Self.store(pool)
            _ = try await Self.appendHistories(store, sessions: 20, deltas: 100)
            let writer = GroupCommitWriter(store: store)
            let live = (0..<10).map { _ in UUID() }
            let appending = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (n, session) in live.enumerated() {
                        group.addTask {
                            var expected = try await writer.append(StreamAppend(sessionID: session, expectedSequence: 0, events: [
                                NewEvent(.sessionStarted(SessionStarted(workflowId: "live-\(n)", prompt: "p", mode: .streaming, requestedBy: "u"))),
                            ])).lastSequence
                            for i in 0..<150 {
                                expected = try await writer.append(StreamAppend(sessionID: session, expectedSequence: expected, events: [
                                    NewEvent(.outputTextDelta(OutputTextDelta(itemId: nil, outputIndex: 0, contentIndex: 0, delta: "\(i),", providerSequence: Int32(i)))),
                                ])).lastSequence
                                try await Task.sleep(for: .milliseconds(2))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // The rebuild starts once every live session is appending (and 150 appends each
            // are far from done), so its swap lands among their writes.
            try await Deadline.wait(for: "every live session to have appended", within: .seconds(60), every: .milliseconds(5)) {
                try await pool.query("SELECT count(*) FROM outline_event_streams WHERE session_id = ANY($1)", PostgresArray(live))[0].decode(Int64.self, at: 0) == Int64(live.count)
            }
            let rebuild = try OutlineSessionsRebuild(pool: pool, pageSize: 500, logger: TestDatabase.quietLogger)
            let report = try await rebuild.run(verify: false, swap: true)
            #expect(report.swapped)
            try await appending.value
            #expect(try await rebuild.run(verify: true, swap: false).differences == [])
            let sessions = OutlineSessions(store: store)
            for session in live {
                #expect(try await sessions.row(session)?.outputText == (0..<150).map { "\($0)," }.joined())
            }
        }
    }

    @Test("50 concurrent starts for one workflow leave exactly one active session and one started event")
    func oneActiveSessionPerWorkflow() async throws {
        try await TestDatabase.withDatabase(maximumConnections: 20) { pool, _ in
            let sessions = OutlineSessions(store: Self.store(pool))
            let outcomes = await withTaskGroup(of: Result<AppendResult, any Error>.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        await outcome {
                            try await sessions.start(SessionStarted(workflowId: "wf-busy", prompt: "p\(i)", mode: .streaming, requestedBy: "u"))
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.compactMap { try? $0.get() }
            #expect(winners.count == 1)
            let winner = try #require(winners.first)
            for case .failure(let error) in outcomes {
                #expect(error as? OutlineSessionStartError == .activeSessionExists(workflowId: "wf-busy", activeSessionID: winner.sessionID))
            }
            let counts = try await pool.query(
                "SELECT (SELECT count(*) FROM outline_events), (SELECT count(*) FROM outline_sessions WHERE workflow_id = 'wf-busy' AND is_active)"
            )[0]
            #expect(try counts.decode(Int64.self, at: 0) == 1)
            #expect(try counts.decode(Int64.self, at: 1) == 1)

            // Once it ends, the workflow may start again.
            try await sessions.store.append(StreamAppend(sessionID: winner.sessionID, expectedSequence: 1, events: [NewEvent(SampleEvents.otherTerminals[1])]))
            let second = try await sessions.start(SessionStarted(workflowId: "wf-busy", prompt: "again", mode: .polling, requestedBy: "u"))
            #expect(try await sessions.latest(in: WorkflowKey(owner: "u", id: "wf-busy"))?.id == second.sessionID)
        }
    }

    @Test("an idempotency key names the session it started")
    func idempotencyKey() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let sessions = OutlineSessions(store: Self.store(pool))
            let started = SessionStarted(workflowId: "wf-idem", prompt: "p", mode: .streaming, requestedBy: "u", idempotencyKey: "click-1")
            let first = try await sessions.start(started)
            try await sessions.store.append(StreamAppend(sessionID: first.sessionID, expectedSequence: 1, events: [NewEvent(SampleEvents.otherTerminals[0])]))
            await #expect(throws: OutlineSessionStartError.idempotencyKeyUsed(workflowId: "wf-idem", sessionID: first.sessionID)) {
                try await sessions.start(started)
            }
        }
    }

    @Test("the fold tracks status, phase, progress and the end of a session")
    func foldStates() throws {
        let session = UUID()
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var row: OutlineSessionRow?
        var sequence: Int32 = 0
        var statuses: [OutlineSessionRow.Status] = []
        for event in SampleEvents.everyType() + SampleEvents.otherTerminals {
            sequence += 1
            row = OutlineSessionFold.apply(event, sessionID: session, sequence: sequence, recordedAt: start.addingTimeInterval(Double(sequence)), to: row)
            statuses.append(row!.status)
        }
        let final = try #require(row)
        #expect(statuses.prefix(5) == [.pending, .awaitingClarification, .clarified, .clarified, .researching])
        #expect(final.status == .completed) // the first terminal event wins
        #expect(!final.isActive)
        #expect(final.finalOutline == "# Tidal power\n")
        #expect(final.webSearchesDone == 1)
        #expect(final.webSearchQueries == ["tidal power costs europe"])
        #expect(final.backgroundResponseId == "resp_123")
        #expect(final.pollingAttempts == 1)
        #expect(final.lastEventSequence == sequence)
        #expect(final.lastProviderSequence == 6)
        #expect(final.elapsedMs == Int64(sequence - 1) * 1000)
        #expect(final.completedAt == start.addingTimeInterval(16))
        // The completed event's priced usage is the session's cost; the terminals after it add nothing.
        #expect(final.costMicrodollars == 19_860 && final.cost?.models == ["o3-deep-research"] && final.cost?.webSearchCalls == 1)
        #expect(OutlineSessionFold.apply(SampleEvents.otherTerminals[0], sessionID: UUID(), sequence: 1, recordedAt: start, to: nil) == nil)
    }
}
