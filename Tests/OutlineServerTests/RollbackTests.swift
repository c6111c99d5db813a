import EventLog
import Foundation
import PostgresClient
import Testing
import TestSupport

/// The rollback the product promises: with the streaming migrations reverted,
/// the V2 polling path works end to end on the same log; `migrate up` brings
/// streaming back without a restart.
@Suite("Schema rollback")
struct RollbackTests {
    static func migrator(_ pool: PostgresPool) throws -> Migrator {
        Migrator(pool: pool, migrations: try TestDatabase.migrations(), logger: TestDatabase.quietLogger)
    }

    @Test("migrate down --scope streaming: V2 start, status, cancel and latest work, V3 is refused naming start-v2; migrate up restores streaming")
    func streamingRollback() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 800, pace: .milliseconds(2)), prepare: { pool async throws in
            let reverted = try await Self.migrator(pool).down(scope: .streaming)
            #expect(reverted == [10, 7])
        }) { h in
            let pool = h.pool
            #expect(try await pool.query("SELECT to_regclass('outline_feature_flags') IS NULL AND to_regclass('outline_events_provider_sequence_once') IS NULL")[0].decode(Bool.self, at: 0))
            try await h.app.checkSchema()   // the server accepts a schema whose only pending migrations are streaming ones
            let health = try await SchemaHealth.check(Self.migrator(pool))
            #expect(health.isHealthy, "\(health.problems)")
            #expect(health.streamingReverted == [7, 10])
            let ready = try await h.call("GET", "/readyz")
            #expect(ready.status == 200)
            #expect(ready.json?["streaming"] as? Bool == false)

            let alice = try await h.token("alice")
            let admin = try await h.token("ops", role: .admin)
            let flags = try await h.call("GET", "/api/flags?workflowId=wf-rb", token: alice)
            #expect(flags.json?["streaming"] as? Bool == false)
            #expect(flags.json?["streamingSchemaInstalled"] as? Bool == false)
            #expect(try await h.call("PUT", "/admin/flags", token: admin, json: ["useStreaming": true]).errorCode == "streaming_schema_reverted")
            let v3 = try await h.call("POST", ServiceHarness.base("wf-rb") + "/start", token: alice, json: ["prompt": "p", "skipClarification": true])
            #expect(v3.status == 409)
            #expect(v3.errorCode == "streaming_disabled")
            #expect(v3.text.contains("start-v2"))

            // V2, end to end.
            let start = try await h.call("POST", ServiceHarness.base("wf-rb") + "/start-v2", token: alice, json: ["prompt": "Solar in Spain", "skipClarification": true])
            #expect(start.status == 201)
            let session = try #require(start.json?["sessionId"] as? String)
            #expect(try await h.call("POST", ServiceHarness.base("wf-rb") + "/start-v2", token: alice, json: ["prompt": "again", "skipClarification": true]).status == 409)
            let row = try await h.waitUntilEnded("wf-rb", session: session, token: alice)
            #expect(row["status"] as? String == "completed")
            #expect((row["pollingAttempts"] as? Int ?? 0) > 0)
            let responseID = try #require(row["backgroundResponseId"] as? String)
            let transcript = try #require(await h.provider.state.transcript(ofResponse: responseID))
            #expect(row["finalOutline"] as? String == transcript.text)
            #expect(await h.provider.state.researchCreates(forSession: session) == 1)
            #expect(try await h.call("GET", ServiceHarness.base("wf-rb") + "/latest", token: alice).json?["id"] as? String == session)
            let second = try #require(try await h.call("POST", ServiceHarness.base("wf-rb") + "/start-v2", token: alice,
                                                       json: ["prompt": "Wind", "skipClarification": true]).json?["sessionId"] as? String)
            let cancelled = try await h.call("POST", ServiceHarness.base("wf-rb") + "/cancel", token: alice, json: ["sessionId": second, "reason": "rollback test"])
            #expect(cancelled.status == 200)
            #expect(try await h.waitUntilEnded("wf-rb", session: second, token: alice)["status"] as? String == "cancelled")
            #expect(try await ChainVerifier(pool: pool).verifyAll().isIntact)

            // Forward again: the same instance streams once its flag cache refreshes.
            #expect(try await Self.migrator(pool).up() == [7, 10])
            let restarted = try await Deadline.value(of: "a streaming start once the flag cache refreshed", within: .seconds(60), every: .milliseconds(100)) { () -> ServiceHarness.Reply? in
                let reply = try await h.call("POST", ServiceHarness.base("wf-rb2") + "/start", token: alice, json: ["prompt": "p", "skipClarification": true])
                return reply.status == 201 ? reply : nil
            }
            let streamed = try #require(restarted.json?["sessionId"] as? String)
            #expect(try await h.waitUntilEnded("wf-rb2", session: streamed, token: alice)["status"] as? String == "completed")
            #expect(try await h.call("PUT", "/admin/flags", token: admin, json: ["rolloutPercent": 50]).status == 200)
        }
    }
}
