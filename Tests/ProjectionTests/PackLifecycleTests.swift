import EventLog
import Foundation
import OutlineProjections
import PostgresClient
import Testing
import TestSupport

@Suite("Packs through the life cycle: redaction, retention and partition drops inside a pack")
struct PackLifecycleTests {
    @Test("a pack's member partly redacted, another removed by retention, the partitions dropped: the rest reads as before and everything verifies")
    func lifeCycleInsideAPack() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let partitions = LogPartitions(pool: pool)
            try await partitions.setSize(60)
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            var ids: [UUID] = []
            for k in 0..<5 {
                let id = UUID()
                try await store.append(StreamAppend(sessionID: id, expectedSequence: 0, events: SampleEvents.session(
                    workflowId: k == 3 ? "wf-short-lived" : "wf-pack", deltas: 12, seed: 4 * k).map { NewEvent($0) }))
                ids.append(id)
            }
            // Still running, so that the partitions before it close.
            let running = UUID()
            try await store.append(StreamAppend(sessionID: running, expectedSequence: 0,
                                                events: SampleEvents.session(workflowId: "wf-running", deltas: 70, seed: 3).map { NewEvent($0) }))
            var before: [[RecordedEvent]] = []
            for id in ids { before.append(try await store.read(session: id, limit: 1000)) }

            let summary = try await Compactor(pool: pool).compactPending()
            #expect(summary.packs == 1 && summary.packedSessions == 5)
            let digestBefore = try await pool.query("SELECT digest FROM outline_event_packs")[0].decode(PostgresBytes.self, at: 0).bytes

            // Redaction inside the pack: the pack is rewritten, the chain still verifies.
            let victim = ids[1]
            let redacted = try await SessionRedaction(store: store).redact(session: victim, .type(OutputTextDelta.eventType), actor: "dpo", reason: "deletion request #7")
            #expect(redacted.sequences.count == 12)
            let afterRedaction = try await store.read(session: victim, limit: 1000)
            #expect(afterRedaction.map(\.sequence) == before[1].map(\.sequence))
            #expect(afterRedaction.map(\.chainLink) == before[1].map(\.chainLink))
            #expect(afterRedaction.filter { $0.redactedDigest != nil }.count == 12)
            #expect(afterRedaction.filter { $0.eventType == OutputTextDelta.eventType }.allSatisfy { !String(decoding: $0.json, as: UTF8.self).contains("word") })
            let report = try await ChainVerifier(pool: pool).verify(session: victim)
            #expect(report.isIntact && report.redactions.count == 12)
            #expect(try await pool.query("SELECT digest FROM outline_event_packs")[0].decode(PostgresBytes.self, at: 0).bytes != digestBefore)

            // Retention takes one member out: the pack is rewritten without it.
            let owner = try await pool.query("SELECT workflow_owner FROM outline_session_rows WHERE id = $1", ids[3])[0].decode(String.self, at: 0)
            let retention = SessionRetention(pool: pool)
            try await retention.setPolicy(keepDays: 1, workflow: (owner, "wf-short-lived"), by: "ops")
            let removed = try await retention.apply(asOf: Date().addingTimeInterval(86_400 * 2), actor: "retention-test")
            #expect(removed.count == 1 && removed[0].0.session == ids[3])
            let pack = try await pool.query("SELECT cardinality(sessions), array_to_string(sessions, ','), event_count FROM outline_event_packs")
            #expect(pack.count == 1)
            #expect(try pack[0].decode(Int32.self, at: 0) == 4)
            #expect(!(try pack[0].decode(String.self, at: 1)).contains(ids[3].uuidString.lowercased()))
            let record = try #require(try await LogAudit(pool: pool).records(kind: .retentionExpired).first)
            #expect(record.details.contains(ids[3].uuidString.lowercased()))
            do {
                _ = try await store.readFeed(session: ids[3], after: 0)
                Issue.record("a removed session was read")
            } catch EventLogError.sessionRemoved {}

            // The partitions go; every kept member reads as before (the victim with its tombstones).
            let droppable = try await partitions.droppable()
            #expect(!droppable.isEmpty)
            for partition in droppable { _ = try await partitions.drop(partition.name, actor: "ops", reason: "compacted") }
            let drops = try await LogAudit(pool: pool).records(kind: .partitionDropped)
            #expect(drops.contains { $0.details.contains(ids[0].uuidString.lowercased()) })
            for k in [0, 2, 4] { #expect(try await store.read(session: ids[k], limit: 1000) == before[k]) }
            #expect(try await store.read(session: victim, limit: 1000) == afterRedaction)
            #expect(try await ChainVerifier(pool: pool).verifyAll().isIntact)
            #expect(try await LogAudit(pool: pool).verify().firstBroken == nil)

            // The whole log's export reads hot rows and packs alike, and re-hashes.
            let export = LogExport(store: store, pageSize: 7)
            var lines: [UInt8] = []
            let exported = try await export.run(.timeRange(from: nil, to: nil)) { lines += $0 }
            #expect(exported == (try await export.count(.timeRange(from: nil, to: nil))))
            var check = ExportChainCheck()
            for line in lines.split(separator: 0x0A) { check.check(bytes: Array(line)) }
            #expect(check.result.isIntact, "\(check.result.breaks)")
            #expect(check.result.redacted == 12)

            // A pack's last member removed takes the pack with it.
            let lone = UUID()
            try await store.append(StreamAppend(sessionID: lone, expectedSequence: 0,
                                                events: SampleEvents.session(workflowId: "wf-short-lived", deltas: 2, seed: 40).map { NewEvent($0) }))
            #expect(try await Compactor(pool: pool).pack(sessions: [lone]).first?.1 != nil)
            #expect(try await pool.query("SELECT count(*) FROM outline_event_packs")[0].decode(Int64.self, at: 0) == 2)
            _ = try await retention.apply(asOf: Date().addingTimeInterval(86_400 * 2), actor: "retention-test")
            #expect(try await pool.query("SELECT count(*) FROM outline_event_packs")[0].decode(Int64.self, at: 0) == 1)
            #expect(try await ChainVerifier(pool: pool).verifyAll().isIntact)
        }
    }
}
