import EventLog
import Foundation
import OutlineProjections
import PostgresClient
import Testing
import TestSupport

@Suite("Retention: expired sessions leave by the audited path")
struct RetentionTests {
    @Test("a workflow's policy wins over the global one; an expired session is compacted, recorded, its segments deleted, its read model rows gone; readers say it was removed; the rest reads as before")
    func expiredSessionsLeave() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            // Three finished sessions of one owner (seeds 0, 28, 56: completed, user-0) on two workflows.
            var ids: [UUID] = []
            for (index, workflow) in ["wf-short", "wf-long", "wf-short"].enumerated() {
                let id = UUID()
                try await store.append(StreamAppend(sessionID: id, expectedSequence: 0,
                                                    events: SampleEvents.session(workflowId: workflow, deltas: 40, seed: index * 28).map { NewEvent($0) }))
                ids.append(id)
            }
            let owner = try await pool.query("SELECT workflow_owner FROM outline_session_rows WHERE id = $1", ids[0])[0].decode(String.self, at: 0)
            let kept = try await store.read(session: ids[1], limit: 10_000)
            let retention = SessionRetention(pool: pool)
            #expect(try await retention.expired(asOf: Date().addingTimeInterval(86_400 * 400)).isEmpty)   // no policy: kept forever
            try await retention.setPolicy(keepDays: 30, by: "ops")
            try await retention.setPolicy(keepDays: 365, workflow: (owner, "wf-long"), by: "ops")
            try await retention.setPolicy(keepDays: 7, workflow: (owner, "wf-short"), by: "ops")
            #expect(try await retention.policies().count == 3)
            #expect(try await retention.expired().isEmpty)                                     // nothing is old yet
            // Forty days on: the short workflow's two sessions are past 7 days; the long one is kept.
            let later = Date().addingTimeInterval(86_400 * 40)
            let expired = try await retention.expired(asOf: later)
            #expect(Set(expired.map(\.session)) == [ids[0], ids[2]])
            #expect(expired.allSatisfy { $0.keepDays == 7 })
            let outcomes = try await retention.apply(asOf: later, actor: "retention-test")
            #expect(outcomes.count == 2)
            #expect(outcomes.allSatisfy { if case .removed = $0.1 { true } else { false } })
            #expect(try await retention.apply(asOf: later, actor: "retention-test").isEmpty)  // done once

            // What was removed and why: the read model of removals, the audit stream.
            let removal = try #require(try await SessionRetention.removal(of: ids[0], pool: pool))
            #expect(removal.reason.contains("7 day(s)"))
            let records = try await LogAudit(pool: pool).records(kind: .retentionExpired)
            #expect(records.count == 2 && records.allSatisfy { $0.actor == "retention-test" && $0.details.contains("\"digest\"") })
            #expect(try await LogAudit(pool: pool).verify().firstBroken == nil)
            // The read model no longer has them, exactly as a rebuild from the log would not.
            #expect(try await pool.query("SELECT count(*) FROM outline_session_rows WHERE id = ANY($1)", PostgresArray([ids[0], ids[2]]))[0].decode(Int64.self, at: 0) == 0)
            let rebuilt = try await OutlineSessionsRebuild(pool: pool).run(verify: true, swap: false, dryRun: true)
            #expect(rebuilt.differences?.isEmpty == true)
            #expect(try await pool.query("SELECT count(*) FROM outline_event_segments WHERE session_id = $1", ids[0])[0].decode(Int64.self, at: 0) == 0)

            // Readers: the removed session is named as removed; the kept one reads as before.
            await #expect(throws: EventLogError.self) { try await store.read(session: ids[0]) }
            do {
                _ = try await store.readFeed(session: ids[0], after: 0)
                Issue.record("a removed session was read")
            } catch EventLogError.sessionRemoved(let session, _, let reason) {
                #expect(session == ids[0] && reason == removal.reason)
            }
            #expect(try await store.read(session: ids[1], limit: 10_000) == kept)
            let report = try await ChainVerifier(pool: pool).verifyAll()
            #expect(report.isIntact)
            #expect(Set(report.removed) == [ids[0], ids[2]])
            let log = try await store.readLog(after: 0, limit: 100_000)
            #expect(Set(log.map(\.sessionID)) == [ids[1]])
            var exported: [UInt8] = []
            _ = try await LogExport(store: store).run(.timeRange(from: nil, to: nil)) { exported += $0 }
            #expect(String(decoding: exported, as: UTF8.self).split(separator: "\n").count == kept.count)

            // Segments change only by an audited change; the record of removals is append-only.
            await #expect(throws: PostgresError.self) { try await pool.query("DELETE FROM outline_event_segments") }
            await #expect(throws: PostgresError.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("SELECT set_config('outline.audited_change', '1', true)")
                    try await connection.query("DELETE FROM outline_event_segments")   // names a record this transaction did not write
                }
            }
            await #expect(throws: PostgresError.self) { try await pool.query("DELETE FROM outline_removed_sessions") }
            let health = try await SchemaHealth.check(Migrator(pool: pool, migrations: try TestDatabase.migrations(), logger: TestDatabase.quietLogger))
            #expect(health.isHealthy, "\(health.problems)")
            _ = settings
        }
    }
}
