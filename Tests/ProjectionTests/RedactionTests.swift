import EventLog
import Foundation
import OutlineProjections
import PostgresClient
import Testing
import TestSupport

@Suite("Redaction: content removed, the proof kept")
struct RedactionTests {
    @Test("a tombstone of every event type still decodes as that type, its content emptied, naming the redaction")
    func tombstonesDecode() throws {
        let redaction = Tombstone.Redaction(audit: 7, at: "2026-12-04T00:00:00Z", by: "ops", reason: "deletion request", digest: String(repeating: "ab", count: 32))
        for event in SampleEvents.everyType() + SampleEvents.otherTerminals {
            let json = try EventCatalog.encode(event)
            let tombstone = try Tombstone.make(from: json, redaction: redaction)
            let decoded = try EventCatalog.decode(eventType: event.eventType, schemaVersion: 1, json: tombstone)
            if case .unknown = decoded { Issue.record("\(event.eventType): the tombstone no longer decodes as its type") }
            #expect(decoded.eventType == event.eventType)
            #expect(Tombstone.redaction(in: tombstone) == redaction)
            #expect(Tombstone.redaction(in: json) == nil)
        }
        let delta = try Tombstone.make(from: Array(#"{"contentIndex":0,"delta":"my API key is sk-123","itemId":"msg","outputIndex":0}"#.utf8), redaction: redaction)
        #expect(!String(decoding: delta, as: UTF8.self).contains("sk-123"))
    }

    @Test("a finished session partly redacted (before compaction), its partitions dropped: it replays, exports, re-hashes and verifies, with the redactions listed")
    func redactCompactDrop() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let partitions = LogPartitions(pool: pool)
            try await partitions.setSize(60)
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            var ids = try await SampleEvents.appendInterleaved(store, count: 3)
            try await store.append(StreamAppend(sessionID: ids[2], expectedSequence: try await store.head(of: ids[2]).sequence,
                                                events: [NewEvent(.cancelled(SessionCancelled(cancelledBy: "test")))]))
            let running = UUID()
            try await store.append(StreamAppend(sessionID: running, expectedSequence: 0,
                                                events: SampleEvents.session(workflowId: "wf-running", deltas: 20, seed: 3).map { NewEvent($0) }))
            ids.append(running)
            let victim = ids[0]   // seed 0: completed
            let before = try await store.read(session: victim, limit: 10_000)
            let secret = try #require(before.first { $0.eventType == OutputTextDelta.eventType })
            let secretText = String(decoding: secret.json, as: UTF8.self)

            let redaction = SessionRedaction(store: store)
            // One event by sequence, then the rest of the text by type: a deletion request for the outline.
            let one = try await redaction.redact(session: victim, .sequence(secret.sequence), actor: "dpo", reason: "deletion request #41")
            #expect(one.sequences == [secret.sequence])
            let rest = try await redaction.redact(session: victim, .type(OutputTextDelta.eventType), actor: "dpo", reason: "deletion request #41")
            #expect(rest.alreadyRedacted == [secret.sequence])
            _ = try await redaction.redact(session: victim, .type(SessionCompleted.eventType), actor: "dpo", reason: "deletion request #41")
            await #expect(throws: RedactionError.notFinished) { try await redaction.redact(session: running, .sequence(1), actor: "dpo", reason: "x") }
            await #expect(throws: RedactionError.self) { try await redaction.redact(session: victim, .sequence(99_999), actor: "dpo", reason: "x") }

            func checkRedacted() async throws {
                let after = try await store.read(session: victim, limit: 10_000)
                #expect(after.map(\.sequence) == before.map(\.sequence))
                #expect(after.map(\.chainLink) == before.map(\.chainLink))
                let redacted = after.filter { $0.redactedDigest != nil }
                #expect(redacted.count == before.filter { $0.eventType == OutputTextDelta.eventType || $0.eventType == SessionCompleted.eventType }.count)
                for event in redacted {
                    #expect(Tombstone.redaction(in: event.json)?.reason == "deletion request #41")
                    #expect(!String(decoding: event.json, as: UTF8.self).contains("word"))
                }
                let feed = try await store.readFeed(session: victim, after: secret.sequence - 1, limit: 1)
                #expect(!String(decoding: feed[0].json, as: UTF8.self).contains(secretText))
                let report = try await ChainVerifier(pool: pool).verify(session: victim)
                #expect(report.isIntact)
                #expect(report.redactions.count == redacted.count)
                #expect(report.redactions.first?.redaction?.by == "dpo")
                var lines: [UInt8] = []
                _ = try await LogExport(store: store).run(.session(victim)) { lines += $0 }
                #expect(!String(decoding: lines, as: UTF8.self).contains("word1’s"))
                var check = ExportChainCheck()
                for line in lines.split(separator: 0x0A) { check.check(bytes: Array(line)) }
                #expect(check.result.isIntact, "\(check.result.breaks)")
                #expect(check.result.redacted == redacted.count)
                // The read model holds no content either, and the session still reads as completed.
                let row = try await pool.query("SELECT status, final_outline, output_text FROM outline_sessions WHERE id = $1", victim)[0]
                #expect(try row.decode(String.self, at: 0) == "completed")
                #expect(try row.decode(String?.self, at: 1) ?? "" == "")
                #expect(try row.decode(String.self, at: 2) == "")
            }
            try await checkRedacted()
            // Nothing of it is left in the hot rows either.
            let hot = try await pool.query(
                "SELECT count(*) FILTER (WHERE codec = 0 AND convert_from(payload, 'UTF8') LIKE '%word%'), count(*) FILTER (WHERE codec <> 0) FROM outline_events WHERE session_id = $1",
                victim)
            #expect(try hot[0].decode(Int64.self, at: 0) == 0)
            #expect(try hot[0].decode(Int64.self, at: 1) == 0)   // the one compressed payload (the outline) is a tombstone now

            // Compacted and partition-dropped: the same.
            _ = try await Compactor(pool: pool).compactPending()
            let droppable = try await partitions.droppable()
            #expect(!droppable.isEmpty)
            for partition in droppable { _ = try await partitions.drop(partition.name, actor: "ops", reason: "compacted") }
            try await checkRedacted()
            #expect(try await ChainVerifier(pool: pool).verifyAll().isIntact)

            // The audit stream has each redaction; the log refuses any UPDATE that does not name one.
            #expect(try await LogAudit(pool: pool).records(kind: .redacted).count == 3)
            #expect(try await LogAudit(pool: pool).verify().firstBroken == nil)
            await #expect(throws: PostgresError.self) { try await pool.query("UPDATE outline_events SET raw_size = raw_size WHERE session_id = $1", running) }
            let dropRecord = try #require(try await LogAudit(pool: pool).records(kind: .partitionDropped).first)
            await #expect(throws: PostgresError.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("SELECT set_config('outline.audited_change', $1, true)", String(dropRecord.sequence))
                    try await connection.query("UPDATE outline_events SET raw_size = raw_size WHERE session_id = $1", running)
                }
            }
        }
    }
}
