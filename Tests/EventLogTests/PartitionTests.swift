import EventLog
import Foundation
import OutlineProjections
import PostgresClient
import Testing
import TestSupport

@Suite("Partitions: hot rows leave by DDL once segments hold them")
struct PartitionTests {
    @Test("appends spread over small partitions; a partition drops only once closed and compacted; the audit names what it held; every reader reads the same after")
    func dropCompactedPartitions() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            let partitions = LogPartitions(pool: pool)
            try await partitions.setSize(60)
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            var ids = try await CompactionTests.appendInterleaved(store, count: 4)
            // The fourth ends too; a fifth runs, written after them all.
            try await store.append(StreamAppend(sessionID: ids[3], expectedSequence: try await store.head(of: ids[3]).sequence,
                                                events: [NewEvent(.cancelled(SessionCancelled(cancelledBy: "test")))]))
            let running = UUID()
            try await store.append(StreamAppend(sessionID: running, expectedSequence: 0,
                                                events: SampleEvents.session(workflowId: "wf-running", deltas: 90, seed: 3).map { NewEvent($0) }))
            ids.append(running)
            let all = try await partitions.list()
            #expect(all.count >= 6)               // created by the appends themselves
            #expect(all.allSatisfy { $0.lastPosition - $0.firstPosition + 1 == 60 })
            let anchors = try await ChainAnchor.heads(pool)
            let before = try await CompactionTests.read(store, ids, anchors: anchors)

            // Nothing is droppable before compaction, and a named drop is refused.
            #expect(try await partitions.droppable().isEmpty)
            let first = all[0].name
            await #expect(throws: LogPartitions.Refusal.self) { try await partitions.drop(first, actor: "test", reason: "too early") }
            let open = try #require(all.last { !$0.isClosed })
            await #expect(throws: LogPartitions.Refusal.open(open.name, lastPosition: open.lastPosition, head: try await store.lastPosition())) {
                try await partitions.drop(open.name, actor: "test", reason: "open")
            }

            let summary = try await Compactor(pool: pool, eventsPerSegment: 30).compactPending()
            #expect(summary.sessions == 4)        // the fifth still runs
            let droppable = try await partitions.droppable()
            try #require(!droppable.isEmpty)
            // Partitions where the running session wrote stay.
            for partition in droppable {
                let dropped = try await partitions.drop(partition.name, actor: "test-operator", reason: "compacted")
                #expect(dropped.events > 0 && !dropped.segments.isEmpty)
                #expect(try await pool.query("SELECT to_regclass($1) IS NULL", partition.name)[0].decode(Bool.self, at: 0))
            }
            #expect(!droppable.isEmpty)
            let left = try await pool.query("SELECT count(DISTINCT session_id) FILTER (WHERE session_id <> $1), count(*) FROM outline_events", running)[0]
            #expect(try left.decode(Int64.self, at: 1) < Int64(before.log.count))

            let after = try await CompactionTests.read(store, ids, anchors: anchors)
            #expect(after == before)

            // The audit stream: one record per drop, chained.
            let records = try await LogAudit(pool: pool).records(kind: .partitionDropped)
            #expect(records.count == droppable.count)
            #expect(records.allSatisfy { $0.actor == "test-operator" && $0.reason == "compacted" && $0.details.contains("\"digest\"") })
            #expect(try await LogAudit(pool: pool).verify().firstBroken == nil)
            await #expect(throws: LogPartitions.Refusal.self) { try await partitions.drop(droppable[0].name, actor: "test", reason: "again") }

            // Appends go on into the open partitions; the guards hold on every partition.
            let more = try await store.append(StreamAppend(sessionID: running, expectedSequence: try await store.head(of: running).sequence,
                                                           events: [NewEvent(.cancelled(SessionCancelled(cancelledBy: "test")))]))
            #expect(more.lastSequence > 0)
            let live = try await partitions.list(includeDropped: false)
            for partition in live {
                await #expect(throws: PostgresError.self) { try await pool.query("DELETE FROM \(partition.name)") }
                await #expect(throws: PostgresError.self) { try await pool.query("TRUNCATE \(partition.name)") }
            }
            await #expect(throws: PostgresError.self) { try await pool.query("DELETE FROM outline_log_audit") }
            let health = try await SchemaHealth.check(Migrator(pool: pool, migrations: try TestDatabase.migrations(), logger: TestDatabase.quietLogger))
            #expect(health.isHealthy, "\(health.problems)")
            _ = settings
        }
    }

    @Test("a provider event once per session, across partitions: a provider sequence that does not rise is refused")
    func providerSequenceAcrossPartitions() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            try await LogPartitions(pool: pool).setSize(5)
            let store = EventStore(pool: pool)
            let session = UUID()
            var expected: Int32 = 0
            for sequence in 0..<12 {
                let delta = OutputTextDelta(itemId: "msg", outputIndex: 0, contentIndex: 0, delta: "w\(sequence) ", providerSequence: Int32(sequence))
                expected = try await store.append(StreamAppend(sessionID: session, expectedSequence: expected, events: [NewEvent(.outputTextDelta(delta))])).lastSequence
            }
            #expect(try await LogPartitions(pool: pool).list().count >= 3)
            let again = OutputTextDelta(itemId: "msg", outputIndex: 0, contentIndex: 0, delta: "again", providerSequence: 2)
            await #expect(throws: EventLogError.duplicateProviderEvent(sessionID: session, providerSequence: nil)) {
                try await store.append(StreamAppend(sessionID: session, expectedSequence: expected, events: [NewEvent(.outputTextDelta(again))]))
            }
            // Within one append too.
            let twice = [13, 13].map { NewEvent(.outputTextDelta(OutputTextDelta(itemId: "msg", outputIndex: 0, contentIndex: 0, delta: "x", providerSequence: Int32($0)))) }
            await #expect(throws: EventLogError.self) { try await store.append(StreamAppend(sessionID: session, expectedSequence: expected, events: twice)) }
            #expect(try await store.read(session: session, limit: 100).count == 12)
        }
    }
}
