import EventLog
import Foundation
import OutlineBasics
import OutlineServer
import PostgresClient
import SimulatedProvider
import Testing
import TestSupport

/// Waits are bounded: a busy pool answers 503 at once instead of queueing,
/// statements and connects have timeouts, an idle connection is closed, a
/// client that stops reading is closed and its memory freed, and /readyz
/// costs the database at most one check per few seconds whatever its rate.
@Suite("Bounded resources under abuse")
struct ResourceBoundsTests {
    @Test("with every pooled connection busy, a request answers 503 database_busy within the checkout timeout")
    func poolCheckoutTimesOut() async throws {
        try await ServiceHarness.with { h in
            let small = PostgresPool(settings: h.pool.settings, maximumConnections: 2, checkoutTimeout: .milliseconds(300), logger: TestDatabase.quietLogger)
            defer { Task { await small.shutdown() } }
            try await ServiceHarness.serve(pool: small, provider: h.provider, configuration: ServiceHarness.configuration(provider: h.provider)) { b in
                let alice = try await b.token("alice")
                _ = try await b.call("POST", "/api/workflows", token: alice, json: ["workflowId": "wf-busy"])
                // Hold both connections until the test lets go (as two stuck queries would):
                // no race with the clock, however loaded the machine.
                let (held, heldSignal) = AsyncStream<Void>.makeStream()
                let releases = (0..<2).map { _ in AsyncStream<Void>.makeStream() }
                // The instance's own loops use this pool too: on a loaded machine a holder
                // may time out waiting for them, so it asks again (a holder that gave up
                // silently left this test waiting forever).
                let holders = releases.map { release in
                    Task {
                        while true {
                            do {
                                try await small.withConnection { _ in
                                    heldSignal.yield()
                                    for await _ in release.stream { break }
                                }
                                return
                            } catch let error as PostgresError where error.kind == .poolTimeout {
                                continue
                            }
                        }
                    }
                }
                let watchdog = Task {
                    try await Task.sleep(for: .seconds(60))
                    heldSignal.finish()
                }
                var heldCount = 0
                for await _ in held {
                    heldCount += 1
                    if heldCount == 2 { break }
                }
                watchdog.cancel()
                try #require(heldCount == 2, "waited 60 s for the test to hold both pooled connections")
                let reply = try await b.call("GET", ServiceHarness.base("wf-busy") + "/latest", token: alice)
                #expect(reply.status == 503, "\(reply.status) \(reply.text)")
                #expect(reply.errorCode == "database_busy")
                #expect(reply.head.header("retry-after") == "1")
                for release in releases { release.continuation.finish() }
                for holder in holders { try await holder.value }
                // Once they are free, the same request is answered again.
                #expect(try await b.call("GET", ServiceHarness.base("wf-busy") + "/latest", token: alice).status == 404)
            }
        }
    }

    @Test("the service's connections carry statement_timeout, connect_timeout, TCP keepalives and their application_name; a long statement is cut with a clear error")
    func statementAndConnectBounds() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            var configuration = ServiceConfiguration(tokenSecret: ServiceHarness.secret)
            configuration.database.statementTimeoutMilliseconds = 500
            let bounded = OutlineServerApplication.pool(settings: settings, configuration: configuration, maximumConnections: 1, logger: TestDatabase.quietLogger)
            defer { Task { await bounded.shutdown() } }
            #expect(try await bounded.query("SHOW statement_timeout")[0].decode(String.self, at: 0) == "500ms")
            // Named in pg_stat_activity, so an operator tells the service's connections apart.
            #expect(try await bounded.query("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")[0].decode(String.self, at: 0) == "outline-server")
            for keyword in ["connect_timeout=", "keepalives=", "keepalives_idle="] { #expect(bounded.settings.conninfo.contains(keyword)) }
            do {
                try await bounded.query("SELECT pg_sleep(5)")
                Issue.record("a 5 s statement ran past a 500 ms statement_timeout")
            } catch let error as PostgresError {
                #expect(error.isBusy, "\(error)")
            }
            // An operator's own choice in the connection string wins.
            let explicit = configuration.database.applied(to: ConnectionSettings(settings.conninfo.contains("://") ? settings.conninfo + (settings.conninfo.contains("?") ? "&" : "?") + "connect_timeout=9"
                                                                                    : settings.conninfo + " connect_timeout=9"))
            #expect(explicit.conninfo.components(separatedBy: "connect_timeout=").count == 2)
        }
    }

    @Test("a connection that sends nothing is closed after the idle timeout")
    func idleConnectionsClose() async throws {
        try await ServiceHarness.with(configure: { $0.httpIdleTimeout = .seconds(1) }) { h in
            let port = try #require(Int(h.url.split(separator: ":").last ?? ""))
            let socket = try await RawSocket.open(1, port: port)[0]
            // Nothing sent: the server closes it (recv returns 0) well before our own 20 s limit.
            #expect(await socket.waitForClose(seconds: 20), "the idle connection stayed open")
        }
    }

    @Test("2,000 clients that never read are closed (write timeout, idle timeout), leave the hub and bound memory; 200 /readyz loops cost few checks; a live run keeps its lease")
    func nonReadingClientsAndReadinessLoops() async throws {
        // A long log: ~7 MB of backlog, more than a socket's kernel buffers (4 MB) take.
        try await ServiceHarness.with(spec: TranscriptSpec(outputLength: 350_000, deltaSize: 10, pace: .zero),
                                      configure: { $0.hub.writeTimeout = .seconds(1); $0.httpIdleTimeout = .seconds(2); $0.limits.openStreamsPerUser = 5000 }) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-slow", token: alice)
            _ = try await h.waitUntilEnded("wf-slow", session: session, token: alice, timeout: .seconds(180))
            let head = try await h.log(session).count
            let port = try #require(Int(h.url.split(separator: ":").last ?? ""))
            @Sendable func request(after: Int) -> [UInt8] {
                Array("GET \(ServiceHarness.base("wf-slow"))/stream?sessionId=\(session)&token=\(streamToken)&lastEventId=\(after) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            }
            let memoryBefore = Self.residentBytes()
            // 10 clients ask for the whole log and never read: their writes block.
            let heavy = try await RawSocket.open(10, port: port, receiveBuffer: 2048) { request(after: 0) }
            // 1,990 more ask for the last few events and never read: the server is done with them at once.
            let light = try await RawSocket.open(1990, port: port, receiveBuffer: 2048) { request(after: head - 5) }
            let memoryWithClients = Self.residentBytes()
            let checksBefore = try await Self.counter("outline_readiness_checks_total", h)
            // Meanwhile a live session must finish on its lease, and /readyz is polled hard.
            let (live, _) = try await h.startStreaming("wf-live", token: alice)
            let loopsStarted = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        for _ in 0..<10 {
                            let status = try await h.call("GET", "/readyz").status
                            #expect(status == 200)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let checks = try await Self.counter("outline_readiness_checks_total", h) - checksBefore
            // One check per 2 s at most, whatever the rate: bounded by the loops' own duration.
            let allowed = Int((ContinuousClock.now - loopsStarted).secondsValue / 2) + 2
            #expect(Int(checks) <= allowed, "2000 readiness calls ran \(checks) schema checks in \(ContinuousClock.now - loopsStarted)")
            // Every non-reading client is closed by the server and leaves the hub.
            do {
                try await Deadline.wait(for: "the server to close the clients that never read", within: .seconds(60), every: .milliseconds(200)) {
                    h.app.hub.clientCount == 0
                }
            } catch {
                let metrics = try await h.call("GET", "/metrics").text.split(separator: "\n").filter { $0.contains("sse") || $0.contains("limit_refusals") }
                Issue.record("\(h.app.hub.clientCount) clients still in the hub; \(metrics.joined(separator: " | "))")
                throw error
            }
            // Deadlines, not timings: a connection the server forgot stays open forever.
            #expect(await RawSocket.stillOpen(heavy, within: 120) == 0, "a blocked client was not closed")
            #expect(await RawSocket.stillOpen(light, within: 120) == 0, "an idle client was not closed")
            #expect(try await Self.counter("outline_sse_clients_dropped_total{reason=\"write_timeout\"}", h) >= 1)
            // Memory stays bounded: each blocked client holds at most its buffer limit, each idle one its connection.
            let growth = memoryWithClients - memoryBefore
            // Each connection may hold NIO's 64 KiB plus the page it is writing, which for
            // these clients ends with session.completed carrying the 350,000-character
            // outline; a blocked one at most its hub buffer besides. (Measured +84 MiB on
            // a quiet machine, +288 MiB with both cores busy, when more are mid-write.)
            let bound = 2000 * (64 * 1024 + 400 * 1024) + 10 * h.app.configuration.hub.bufferLimit + 64 * 1024 * 1024
            #expect(growth < bound, "2,000 connections grew memory by \(growth >> 20) MiB, more than their limits allow (\(bound >> 20) MiB)")
            let row = try await h.waitUntilEnded("wf-live", session: live, token: alice, timeout: .seconds(180))
            #expect(row["status"] as? String == "completed")
            let log = try await h.log(live)
            #expect(!log.contains { if case .resumed(let r) = $0.event { r.reason.contains("previous runner") } else { false } }, "a lease was lost")
        }
    }

    /// A counter's value in `/metrics` (`name` with its labels, as Prometheus prints it); 0 when absent.
    /// This process's resident memory (server, provider and clients together), from /proc.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func counter(_ name: String, _ h: ServiceHarness) async throws -> Double {
        let text = try await h.call("GET", "/metrics").text
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }
}
