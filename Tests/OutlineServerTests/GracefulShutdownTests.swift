import EventLog
import Foundation
import OutlineServer
import PostgresClient
import SimulatedProvider
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The real `outline-server` executable, stopped with SIGTERM mid-session.
@Suite("Graceful shutdown of the real executable")
struct GracefulShutdownTests {
    static func executable(_ name: String) -> String { ServerProcess.executable(name) }

    @Test("SIGTERM ends open streams cleanly, exits 0 and releases the leases; another instance adopts the session at once and finishes it, charged once")
    func sigtermMidSession() async throws {
        _ = ServiceHarness.metrics
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(outputLength: 3000, pace: .milliseconds(10))))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, settings in
            let running = try await ServerProcess.start(database: settings.conninfo, providerURL: provider.url)
            let server = running.process
            defer { running.terminateIfRunning() }
            let url = running.url
            let signer = TokenSigner(secret: ServiceHarness.secret)
            let alice = try await signer.sign(AccessToken(subject: "alice", role: .user, expiresAt: Date().addingTimeInterval(600)))
            let client = ServiceHarness(url: url, app: OutlineServerApplication(pool: pool, migrations: []), provider: provider, pool: pool)
            let (session, streamToken) = try await client.startStreaming("wf-term", token: alice)
            let received = Counter()
            let streaming = Task {
                try await SSEClient().connect(url + ServiceHarness.base("wf-term") + "/stream?sessionId=\(session)&token=\(streamToken)&from=0") { event in
                    _ = received.next()
                    return false
                }
            }
            try await Deadline.wait(for: "30 events on the stream", within: .seconds(60)) { received.value >= 30 }
            let stopping = ContinuousClock.now
            kill(server.processIdentifier, SIGTERM)
            let connection = try await streaming.value
            #expect(connection.endedByServer)
            #expect(connection.status == 200)
            #expect(!connection.events.contains { ["session.completed", "session.failed", "session.cancelled"].contains($0.event ?? "") })
            try await Deadline.wait(for: "outline-server to exit after SIGTERM", within: .seconds(30)) { !server.isRunning }
            #expect(server.terminationStatus == 0)
            // Well inside a supervisor's kill timeout (systemd's default is 90 s), even on a loaded machine.
            #expect(ContinuousClock.now - stopping < .seconds(20))
            let leases = try await pool.query("SELECT count(*) FROM outline_session_leases")[0].decode(Int64.self, at: 0)
            #expect(leases == 0)
            // Another instance adopts the session right away and resumes the provider's stream.
            try await ServiceHarness.serve(pool: pool, provider: provider, configuration: ServiceHarness.configuration(provider: provider, name: "successor")) { successor in
                let resumed = try await SSEClient().connect(successor.url + ServiceHarness.base("wf-term") + "/stream?sessionId=\(session)&token=\(streamToken)",
                                                          headers: [("Last-Event-ID", connection.events.last?.id ?? "0")])
                #expect(resumed.events.last?.event == "session.completed")
                let log = try await successor.log(session)
                #expect((connection.events + resumed.events).map { Int32($0.id ?? "") } == log.map(\.sequence))
                let row = try await successor.waitUntilEnded("wf-term", session: session, token: alice)
                let responseID = try #require(row["backgroundResponseId"] as? String)
                let transcript = try #require(await provider.state.transcript(ofResponse: responseID))
                #expect(row["finalOutline"] as? String == transcript.text)
                #expect(await provider.state.researchCreates(forSession: session) == 1)
            }
        }
    }
}
