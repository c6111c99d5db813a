import EventLog
import Foundation
import PostgresClient
import SimulatedProvider
import Testing
import TestSupport

/// Issue 16 point 1, through the routes: with a standby that has replayed
/// none of a session (its replay paused), every read a standby serves still
/// shows the whole log, from the primary.
@Suite("Routes that read from a standby show the whole log however far it lags", .serialized)
struct StandbyReadTests {
    @Test("events page, replay, SSE backlog and Durable Streams catch-up of a session the standby has not replayed: all of it")
    func lagging() async throws {
        _ = ServiceHarness.metrics
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(outputLength: 600, pace: .zero)))
        defer { Task { await provider.stop() } }
        try await TestStandby.exclusively { try await TestDatabase.withDatabase { pool, settings in
            guard let standbySettings = TestStandby.settings(for: settings) else {
                Issue.record("no standby: run Tools/test.sh, or Tools/dev/postgres.sh standby start and eval \"$(Tools/dev/postgres.sh env)\"")
                return
            }
            try await TestStandby.caughtUp(primary: pool, standby: standbySettings)
            let readPool = PostgresPool(settings: standbySettings, maximumConnections: 4)
            defer { Task { await readPool.shutdown() } }
            var configuration = ServiceHarness.configuration(provider: provider)
            configuration.replicaPatience = .milliseconds(200)
            try await TestStandby.setReplayPaused(true, primary: settings)
            do {
                try await ServiceHarness.serve(pool: pool, readPool: readPool, provider: provider, configuration: configuration) { h in
                    let alice = try await h.token("alice")
                    let (session, streamToken) = try await h.startStreaming("wf-standby", token: alice)
                    _ = try await h.waitUntilEnded("wf-standby", session: session, token: alice)
                    let log = try await h.log(session)
                    let all = log.map { Int($0.sequence) }
                    #expect(try await EventStore(pool: readPool).read(session: UUID(uuidString: session)!, limit: 10_000).isEmpty, "the standby must not have the session")

                    let page = try await h.call("GET", "/api/sessions/\(session)/events?limit=10000", token: alice)
                    #expect((page.json?["events"] as? [[String: Any]])?.compactMap { $0["sequence"] as? Int } == all, "\(page.text.prefix(300))")
                    let replay = try await SSEClient().connect(h.url + "/api/sessions/\(session)/replay?speed=0&token=\(streamToken)")
                    #expect(replay.events.compactMap { Int($0.id ?? "") } == all)
                    let backlog = try await SSEClient().connect(h.url + ServiceHarness.base("wf-standby") + "/stream?sessionId=\(session)&token=\(streamToken)&from=0")
                    #expect(backlog.events.compactMap { Int($0.id ?? "") } == all)
                    let durable = try await h.call("GET", "/api/sessions/\(session)/durable-stream?offset=-1", token: alice)
                    let messages = (try? JSONSerialization.jsonObject(with: Data(durable.body)) as? [[String: Any]]) ?? []
                    #expect(messages.compactMap { $0["sequence"] as? Int } == all, "\(durable.status) \(durable.text.prefix(300))")
                }
            } catch {
                try? await TestStandby.setReplayPaused(false, primary: settings)
                throw error
            }
            try await TestStandby.setReplayPaused(false, primary: settings)
        } }
    }
}
