import EventLog
import Foundation
import PostgresClient
import Testing
import TestSupport

@Suite("Event store on PostgreSQL")
struct EventStoreTests {
    @Test("every event type round-trips through the log with its sequence, provider sequence and time")
    func roundTripEveryType() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let session = UUID()
            let time = Date(timeIntervalSince1970: 1_764_964_102.654321)
            let events = SampleEvents.everyType() + [SampleEvents.otherTerminals[0]]
            let result = try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: events.map { NewEvent($0, recordedAt: time) }))
            #expect(result.firstSequence == 1)
            #expect(result.lastSequence == Int32(events.count))
            let read = try await store.read(session: session)
            #expect(read.map(\.event) == events)
            #expect(read.map(\.sequence) == Array(1...Int32(events.count)))
            #expect(read.map(\.providerSequence) == events.map(\.providerSequence))
            #expect(read.allSatisfy { abs($0.recordedAt.timeIntervalSince(time)) < 0.000_001 })
            #expect(read.map(\.position) == read.map(\.position).sorted())
            let head = try await store.head(of: session)
            #expect(head.sequence == Int32(events.count))
            #expect(head.link == read.last?.chainLink)
        }
    }

    @Test("the torture pass's commit pause: an armed batch of several sessions holds its transaction open, invisible until it commits; one batch per arming")
    func commitPauseHook() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let arm = FileManager.default.temporaryDirectory.appendingPathComponent("arm-\(UUID().uuidString)").path
            // Paused until the test releases it (at most two minutes): no race with a clock.
            let hook = CommitPauseHook(armFile: arm, minimumSessions: 2, pause: .seconds(120))
            let store = EventStore(pool: pool, commitPause: hook)
            let (a, b) = (UUID(), UUID())
            let events = [NewEvent(SampleEvents.everyType()[0])]
            // A batch of one session does not take it.
            _ = FileManager.default.createFile(atPath: arm, contents: nil)
            try await store.append(StreamAppend(sessionID: a, expectedSequence: 0, events: events))
            #expect(FileManager.default.fileExists(atPath: arm))
            let paused = Task { try await store.append([StreamAppend(sessionID: a, expectedSequence: 1, events: events), StreamAppend(sessionID: b, expectedSequence: 0, events: events)]) }
            try await Deadline.wait(for: "the batch to take the arming", within: .seconds(30)) { !FileManager.default.fileExists(atPath: arm) }
            // Inside its transaction: another reader sees nothing of it yet.
            #expect(try await EventStore(pool: pool).head(of: b).sequence == 0)
            _ = FileManager.default.createFile(atPath: hook.releaseFile, contents: nil)
            _ = try await paused.value
            #expect(try await store.head(of: b).sequence == 1)
            #expect(try await store.head(of: a).sequence == 2)
        }
    }

    @Test("large payloads are stored LZ4-compressed and read back intact")
    func largePayloadCompressed() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let session = UUID()
            let outline = String(repeating: "## Section\nTidal power – costs, sites and grids. ", count: 25_000) // ~1 MB
            let events: [OutlineEvent] = [
                SampleEvents.everyType()[0],
                .completed(SessionCompleted(finalOutline: outline, citations: [])),
            ]
            try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: events.map { NewEvent($0) }))
            let read = try await store.read(session: session)
            #expect(read[1].event == events[1])
            #expect(read[1].codec == .lz4JSON)
            #expect(read[1].storedSize < read[1].rawSize / 5)
            #expect(read[0].codec == .rawJSON)
        }
    }

    @Test("an append at the head wins against a writer appending without pause, and is refused once the session ended")
    func appendAtHeadAgainstBusyWriter() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let session = UUID()
            let first = try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: [NewEvent(SampleEvents.everyType()[0])])).lastSequence
            let delta = OutlineEvent.outputTextDelta(OutputTextDelta(itemId: "m", outputIndex: 0, contentIndex: 0, delta: "x", providerSequence: nil))
            // The busy writer appends as fast as it can until its expected sequence fails.
            let busy = Task {
                var appended = 0
                var head = first
                while true {
                    do {
                        head = try await store.append(StreamAppend(sessionID: session, expectedSequence: head, events: [NewEvent(delta), NewEvent(delta)])).lastSequence
                        appended += 2
                    } catch EventLogError.sequenceConflict {
                        return appended
                    }
                }
            }
            // Until the busy writer is at it (a sleep raced it on a busy machine).
            try await Deadline.wait(for: "the busy writer's first appends", within: .seconds(60)) {
                try await store.head(of: session).sequence >= first + 10
            }
            let cancel = OutlineEvent.cancelled(SessionCancelled(cancelledBy: "u", reason: nil))
            let result = try #require(try await store.appendAtHeadUnlessEnded(session: session, events: [NewEvent(cancel)]))
            let appended = try await busy.value
            #expect(appended > 0)
            #expect(result.lastSequence == Int32(1 + appended + 1))
            #expect(try await store.appendAtHeadUnlessEnded(session: session, events: [NewEvent(cancel)]) == nil)
            let log = try await store.read(session: session, limit: 100_000)
            #expect(log.map(\.sequence) == Array(1...Int32(log.count)))
            #expect(log.last?.event == cancel)
        }
    }

    @Test("two appenders at the same expected sequence: exactly one wins, the other gets a conflict")
    func concurrentAppendersConflict() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let session = UUID()
            try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: [NewEvent(SampleEvents.everyType()[0])]))
            for round in 0..<20 {
                let expected = Int32(1 + round)
                let outcomes = await withTaskGroup(of: Result<AppendResult, any Error>.self) { group in
                    for writer in 0..<2 {
                        group.addTask {
                            await outcome {
                                try await store.append(StreamAppend(sessionID: session, expectedSequence: expected, events: [
                                    NewEvent(.outputTextDelta(OutputTextDelta(itemId: nil, outputIndex: 0, contentIndex: 0, delta: "w\(writer)", providerSequence: nil))),
                                ]))
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                let wins = outcomes.filter { if case .success = $0 { true } else { false } }
                #expect(wins.count == 1)
                for case .failure(let error) in outcomes {
                    #expect(error as? EventLogError == .sequenceConflict(sessionID: session, expected: expected, actual: expected + 1))
                }
            }
            let read = try await store.read(session: session)
            #expect(read.map(\.sequence) == Array(1...21))
        }
    }

    @Test("a stale expected sequence never writes: neither a gap ahead nor an overwrite behind")
    func staleExpectedSequence() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let session = UUID()
            let start = NewEvent(SampleEvents.everyType()[0])
            try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: [start, start]))
            for expected: Int32 in [0, 1, 3, 10] {
                await #expect(throws: EventLogError.sequenceConflict(sessionID: session, expected: expected, actual: 2)) {
                    try await store.append(StreamAppend(sessionID: session, expectedSequence: expected, events: [start]))
                }
            }
            await #expect(throws: EventLogError.self) {
                try await store.append(StreamAppend(sessionID: session, expectedSequence: 2, events: []))
            }
            #expect(try await store.read(session: session).count == 2)
        }
    }

    @Test("sequences stay dense 1..n per session under concurrent sessions, and positions are unique")
    func denseUnderConcurrency() async throws {
        try await TestDatabase.withDatabase(maximumConnections: 10) { pool, _ in
            let store = EventStore(pool: pool)
            let sessions = (0..<20).map { _ in UUID() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for session in sessions {
                    group.addTask {
                        var expected: Int32 = 0
                        for batch in 0..<15 {
                            let events = (0..<(batch % 4 + 1)).map { i in
                                NewEvent(.outputTextDelta(OutputTextDelta(itemId: nil, outputIndex: 0, contentIndex: 0, delta: "\(batch).\(i)", providerSequence: nil)))
                            }
                            let result = try await store.append(StreamAppend(sessionID: session, expectedSequence: expected, events: events))
                            expected = result.lastSequence
                        }
                    }
                }
                try await group.waitForAll()
            }
            let stats = try await pool.query("""
                SELECT (SELECT count(*) FROM outline_events), (SELECT count(DISTINCT position) FROM outline_events),
                       (SELECT min(position) FROM outline_events), (SELECT max(position) FROM outline_events),
                       (SELECT bool_and(n = max_seq AND min_seq = 1) FROM (
                            SELECT count(*) AS n, max(sequence) AS max_seq, min(sequence) AS min_seq
                              FROM outline_events GROUP BY session_id) s)
                """)[0]
            let total = try stats.decode(Int64.self, at: 0)
            #expect(total == 20 * 36)
            #expect(try stats.decode(Int64.self, at: 1) == total)
            #expect(try stats.decode(Int64.self, at: 2) == 1)
            #expect(try stats.decode(Int64.self, at: 3) == total) // positions are dense too
            #expect(try stats.decode(Bool.self, at: 4))
        }
    }

    @Test("UPDATE, DELETE and TRUNCATE on the events table are refused by the database")
    func appendOnly() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let session = UUID()
            try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: [NewEvent(SampleEvents.everyType()[0])]))
            for statement in [
                "UPDATE outline_events SET event_type = 'x'",
                "UPDATE outline_events SET payload = '\\x00' WHERE false",
                "DELETE FROM outline_events",
                "TRUNCATE outline_events",
            ] {
                do {
                    try await pool.query(statement)
                    Issue.record("\(statement) was allowed")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "OS001", "\(statement): \(error)")
                }
            }
            #expect(try await store.read(session: session).count == 1)
        }
    }

    @Test("a corrupted stored payload is reported with its session, sequence and position, not decoded")
    func corruptPayloadReported() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let session = UUID()
            // Written straight into the table (as a damaged disk or a bad tool would), bypassing the append function.
            try await pool.query(
                """
                INSERT INTO outline_events (position, session_id, sequence, event_type, schema_version, codec, payload, raw_size, recorded_at, chain_link)
                VALUES (1000, $1, 1, 'output_text.delta', 1, 1, $2, 900, now(), $3), (1001, $1, 2, 'output_text.delta', 1, 0, $4, 10, now(), $3)
                """,
                session, PostgresBytes([0xF0, 0x01, 0x02, 0x03]), PostgresBytes(ChainLink.genesis), PostgresBytes(Array("{\"delta\"".utf8))
            )
            for (after, sequence, position): (Int32, Int32, Int64) in [(0, 1, 1000), (1, 2, 1001)] {
                do {
                    _ = try await store.read(session: session, after: after)
                    Issue.record("a damaged payload was decoded")
                } catch let error as EventLogError {
                    guard case .corruptPayload(let s, let badSequence, let badPosition, let reason) = error else { throw error }
                    #expect(s == session && badSequence == sequence && badPosition == position)
                    #expect(!reason.isEmpty)
                }
            }
        }
    }

    @Test("the same provider event cannot be stored twice for a session")
    func providerSequenceOnce() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let session = UUID()
            let delta = OutlineEvent.outputTextDelta(OutputTextDelta(itemId: nil, outputIndex: 0, contentIndex: 0, delta: "a", providerSequence: 7))
            try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: [NewEvent(delta)]))
            await #expect(throws: EventLogError.self) {
                try await store.append(StreamAppend(sessionID: session, expectedSequence: 1, events: [NewEvent(delta)]))
            }
            #expect(try await store.read(session: session).count == 1)
        }
    }

    @Test("the group commit writer commits concurrent appends of many sessions, in order, with shared transactions")
    func groupCommit() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let writer = GroupCommitWriter(store: store)
            let sessions = (0..<50).map { _ in UUID() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for session in sessions {
                    group.addTask {
                        var expected: Int32 = 0
                        for i in 0..<20 {
                            let result = try await writer.append(StreamAppend(sessionID: session, expectedSequence: expected, events: [
                                NewEvent(.outputTextDelta(OutputTextDelta(itemId: nil, outputIndex: 0, contentIndex: 0, delta: "\(i) ", providerSequence: Int32(i)))),
                            ]))
                            #expect(result.firstSequence == expected + 1)
                            expected = result.lastSequence
                        }
                    }
                }
                try await group.waitForAll()
            }
            for session in sessions.prefix(5) {
                let text = try await store.read(session: session).compactMap { event -> String? in
                    if case .outputTextDelta(let d) = event.event { return d.delta } else { return nil }
                }.joined()
                #expect(text == (0..<20).map { "\($0) " }.joined())
            }
            // Fewer transactions than appends: the writer batched them.
            let transactions = try await pool.query("SELECT count(DISTINCT xmin::text) FROM outline_events")[0].decode(Int64.self, at: 0)
            #expect(transactions < 1000)
            // A conflicting append fails alone; the others in its batch commit.
            let stale = try? await writer.append(StreamAppend(sessionID: sessions[0], expectedSequence: 3, events: [NewEvent(SampleEvents.otherTerminals[1])]))
            #expect(stale == nil)
        }
    }
}
