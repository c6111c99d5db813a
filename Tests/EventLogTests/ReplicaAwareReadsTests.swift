import EventLog
import Foundation
import PostgresClient
import Testing
import TestSupport

/// Issue 16 point 1: reads served by a real streaming standby (the private
/// cluster's, `postgres.sh standby start`) never show less than the caller
/// knows exists; its lag is made by pausing its replay, not by racing it.
@Suite("Reads from a streaming standby: never less than the caller has seen", .serialized)
struct ReplicaAwareReadsTests {
    /// `count` text deltas whose provider sequences follow `after` (each provider event is stored once).
    static func deltas(_ count: Int, after: Int) -> [NewEvent] {
        (0..<count).map { NewEvent(.outputTextDelta(OutputTextDelta(itemId: "msg", outputIndex: 0, contentIndex: 0, delta: "d\($0) ", providerSequence: Int32(after + $0 + 1)))) }
    }

    @Test("a lagging standby serves what it has when nothing is promised, waits for or falls back to the primary for what is; an unreachable one is skipped")
    func lagAndFallback() async throws {
        try await TestStandby.exclusively { try await TestDatabase.withDatabase { pool, settings in
            guard let standbySettings = TestStandby.settings(for: settings) else {
                Issue.record("no standby: run Tools/test.sh, or Tools/dev/postgres.sh standby start and eval \"$(Tools/dev/postgres.sh env)\"")
                return
            }
            let primary = EventStore(pool: pool)
            let session = UUID()
            try await primary.append(StreamAppend(sessionID: session, expectedSequence: 0,
                                                  events: [NewEvent(.sessionStarted(SessionStarted(workflowId: "wf-standby", prompt: "Standby reads", mode: .streaming,
                                                                                                   requestedBy: "user-1", idempotencyKey: nil)))]
                                                  + Self.deltas(49, after: 0)))
            try await TestStandby.caughtUp(primary: pool, standby: standbySettings)
            let standbyPool = PostgresPool(settings: standbySettings, maximumConnections: 2)
            defer { Task { await standbyPool.shutdown() } }
            let standby = EventStore(pool: standbyPool)
            #expect(try await standby.readFeed(session: session, after: 0, limit: 1000).count == 50)

            // The standby stops replaying; the primary goes on to 70.
            try await TestStandby.setReplayPaused(true, primary: settings)
            do {
                try await primary.append(StreamAppend(sessionID: session, expectedSequence: 50, events: Self.deltas(20, after: 49)))
                #expect(try await standby.readFeed(session: session, after: 0, limit: 1000).count == 50, "the standby must lag for this test")
                let impatient = ReplicaAwareReads(primary: primary, standby: standby, patience: .milliseconds(100))
                // Nothing promised past the cursor: the standby's view is enough.
                #expect(try await impatient.readFeed(session: session, after: 0, through: 0, limit: 1000).last?.sequence == 50)
                // The caller knows of 70: the primary answers once the standby has not caught up in time.
                #expect(try await impatient.readFeed(session: session, after: 0, through: 70, limit: 1000).map(\.sequence) == Array(1...70))
                #expect(try await impatient.read(session: session, after: 60, through: 70, limit: 5).map(\.sequence) == Array(61...65))
                // A page that ends before the lag needs nothing from the primary.
                #expect(try await impatient.readFeed(session: session, after: 0, through: 70, limit: 30).map(\.sequence) == Array(1...30))
                // A patient read waits for the standby, which catches up once resumed.
                let patient = ReplicaAwareReads(primary: primary, standby: standby, patience: .seconds(300))
                let started = ContinuousClock.now
                async let waited = patient.readFeed(session: session, after: 50, through: 70, limit: 1000)
                try await Task.sleep(for: .milliseconds(200))
                try await TestStandby.setReplayPaused(false, primary: settings)
                #expect(try await waited.map(\.sequence) == Array(51...70))
                #expect(ContinuousClock.now - started < .seconds(300), "served by the standby, not by the primary after the patience ran out")
            } catch {
                try? await TestStandby.setReplayPaused(false, primary: settings)
                throw error
            }

            // A standby that cannot be reached: the primary answers at once.
            let nowhere = PostgresPool(settings: ConnectionSettings("postgresql:///nothing?host=/nonexistent&port=1"), maximumConnections: 1)
            defer { Task { await nowhere.shutdown() } }
            let broken = ReplicaAwareReads(primary: primary, standby: EventStore(pool: nowhere), patience: .seconds(300))
            #expect(try await broken.readFeed(session: session, after: 0, through: 70, limit: 1000).count == 70)
            #expect(try await broken.readFeed(session: session, after: 0, through: 0, limit: 1000).count == 70)
        } }
    }
}
