import EventLog
import OutlineAuth
import OutlineServer
import Foundation
import PostgresClient
import SimulatedProvider
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16 point 3: the topology as one (`Tools/run.sh --topology`'s parts):
/// three real `outline-server` processes reading from the cluster's streaming
/// standby, nginx in front (`Tools/dev/nginx-topology.sh`'s configuration),
/// sessions streamed through nginx by readers that resume with Last-Event-ID
/// while one instance is SIGKILLed, another stopped gracefully and the standby
/// lags (its replay paused), then read with the standby stopped. Runs in a pass of its own (`OUTLINE_TOPOLOGY_TESTS=1`): it stops and
/// restarts the standby every other test may read.
@Suite("The topology as one: nginx, three instances, primary and standby")
struct TopologyTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["OUTLINE_TOPOLOGY_TESTS"] == "1" }
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// A reader as the page's EventSource: it keeps every event id, and when its
    /// connection ends before the session did, it reconnects through nginx with
    /// the last id it has.
    final class ResumingReader: Sendable {
        let ids = Mutex<[Int]>([])
        let connections = Mutex(0)
        var last: Int { ids.withLock { $0.last ?? 0 } }

        func read(_ url: String) async {
            let deadline = ContinuousClock.now + .seconds(600)
            let ended = Mutex(false)
            while !ended.withLock({ $0 }), ContinuousClock.now < deadline {
                connections.withLock { $0 += 1 }
                let after = last
                _ = try? await SSEClient().connect(url, headers: after > 0 ? [("Last-Event-ID", String(after))] : [], timeout: .seconds(300)) { event in
                    if let id = event.id.flatMap(Int.init) { self.ids.withLock { $0.append(id) } }
                    if ["session.completed", "session.failed", "session.cancelled"].contains(event.event ?? "") { ended.withLock { $0 = true } }
                    return false
                }
                if !ended.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(200)) }
            }
        }
    }

    /// A gauge without labels from a Prometheus text page (0 when absent).
    static func gauge(_ name: String, in page: String) -> Double {
        for line in page.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    /// `runChild`, not `runCollecting`: a started postmaster keeps any pipe it inherited open.
    static func pgScript(_ arguments: [String]) async throws {
        let status = try await runChild(root.appendingPathComponent("Tools/dev/postgres.sh").path, arguments)
        try #require(status == 0, "postgres.sh \(arguments.joined(separator: " ")) exited \(status)")
    }

    @Test("sessions stream through nginx while one instance is killed, one stopped and the standby lags, then are read with the standby stopped: every reader gets 1…n once, each session completes charged once, replays from the standby equal the primary's log")
    func topology() async throws {
        guard Self.enabled else { return }
        _ = ServiceHarness.metrics
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") else {
            Issue.record("nginx is missing: Tools/test.sh installs it (Tools/dev/nginx-deps.sh)")
            return
        }
        // Every run holds at event 60 until the test lets it go: the faults land mid-stream by design.
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(outputLength: 2500, pace: .milliseconds(2)),
                                                                                       faults: [.holdAt(events: 60)]))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, settings in
            try await Self.pgScript(["standby", "start"])
            guard let standby = TestStandby.settings(for: settings) else {
                Issue.record("no standby: run Tools/test.sh")
                return
            }
            try await TestStandby.caughtUp(primary: pool, standby: standby)
            // One writer starts every session: the usage limits, budgets and automatic rollback are lifted (their own tests prove them).
            let environment = ["DATABASE_READ_URL": standby.conninfo, "OUTLINE_LEASE_MS": "3000", "OUTLINE_ADOPTION_INTERVAL_MS": "500",
                               "OUTLINE_LIMIT_ACTIVE_SESSIONS": "1000", "OUTLINE_LIMIT_STARTS_PER_HOUR": "10000", "OUTLINE_LIMIT_STARTS_PER_DAY": "10000",
                               "OUTLINE_LIMIT_NEW_WORKFLOWS_PER_HOUR": "10000", "OUTLINE_LIMIT_STREAMS": "1000",
                               "OUTLINE_BUDGET_USER_USD": "none", "OUTLINE_BUDGET_WORKFLOW_USD": "none", "OUTLINE_ROLLBACK_ENABLED": "false"]
            var instances: [ServerProcess] = []
            defer { instances.forEach { $0.terminateIfRunning() } }
            for _ in 0..<3 { instances.append(try await ServerProcess.start(database: settings.conninfo, providerURL: provider.url, environment: environment)) }

            // nginx in front, configured as `Tools/run.sh --topology` configures it.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("outline-topology-\(UUID().uuidString)")
            let ports = instances.map { String($0.url.split(separator: ":").last!) }
            var nginx: Process?
            var proxy = ""
            for _ in 0..<20 where nginx == nil {
                let port = Int.random(in: 20_000...40_000)
                let (status, output) = try await runCollecting(Self.root.appendingPathComponent("Tools/dev/nginx-topology.sh").path, [directory.path, String(port)] + ports)
                try #require(status == 0, "\(String(decoding: output, as: UTF8.self))")
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
                process.arguments = ["-c", directory.appendingPathComponent("nginx.conf").path, "-g", "daemon off;"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                let client = ServiceHarness(url: "http://127.0.0.1:\(port)", app: OutlineServerApplication(pool: pool, migrations: []), provider: provider, pool: pool)
                let up = try? await Deadline.value(of: "nginx on \(port)", within: .seconds(10), every: .milliseconds(50)) { () -> Bool? in
                    if !process.isRunning { return false }
                    return (try? await client.call("GET", "/healthz"))?.status == 200 ? true : nil
                }
                if up == true { nginx = process; proxy = client.url } else if process.isRunning { process.terminate() }
            }
            let proxied = try #require(nginx, "nginx did not start on any port tried")
            defer { if proxied.isRunning { proxied.terminate() } }
            let h = ServiceHarness(url: proxy, app: OutlineServerApplication(pool: pool, migrations: []), provider: provider, pool: pool)

            // Six sessions started through nginx, each read by a resuming reader through nginx.
            let alice = try await TokenSigner(secret: ServiceHarness.secret).sign(AccessToken(subject: "alice", role: .user, expiresAt: Date().addingTimeInterval(3600)))
            var sessions: [(id: String, workflow: String, reader: ResumingReader, task: Task<Void, Never>)] = []
            for index in 0..<6 {
                let workflow = "wf-topology-\(index)"
                let (session, token) = try await h.startStreaming(workflow, token: alice)
                let reader = ResumingReader()
                let url = proxy + ServiceHarness.base(workflow) + "/stream?sessionId=\(session)&token=\(token)&from=0"
                sessions.append((session, workflow, reader, Task { await reader.read(url) }))
            }
            try await Deadline.wait(for: "every run to reach the provider's hold", within: .seconds(120), every: .milliseconds(50)) {
                for session in sessions where await !provider.state.streamsReachedHold(session: session.id) { return false }
                return true
            }
            try await Deadline.wait(for: "every reader to have events", within: .seconds(120)) { sessions.allSatisfy { $0.reader.last > 1 } }

            // The faults: the standby lags (its replay paused), one instance is killed and one
            // stopped gracefully; the readers resume through nginx while the standby lags.
            // nginx sends a workflow's start and streams to the instance its id hashes to: the
            // instance killed is the one serving the most streams, so the faults always hit readers.
            var served: [(instance: ServerProcess, streams: Double)] = []
            for instance in instances {
                let direct = ServiceHarness(url: instance.url, app: OutlineServerApplication(pool: pool, migrations: []), provider: provider, pool: pool)
                served.append((instance, Self.gauge("outline_sse_clients", in: try await direct.call("GET", "/metrics").text)))
            }
            #expect(served.reduce(0) { $0 + $1.streams } >= 6, "the instances count \(served.map(\.streams)) streams for six readers")
            let faulted = served.sorted { $0.streams > $1.streams }.map(\.instance)
            try await TestStandby.setReplayPaused(true, primary: settings)
            do {
                kill(faulted[0].process.processIdentifier, SIGKILL)
                kill(faulted[1].process.processIdentifier, SIGTERM)
                try await Deadline.wait(for: "the stopped instance to exit", within: .seconds(60)) { !faulted[1].process.isRunning }
                #expect(faulted[1].process.terminationStatus == 0, "graceful stop: \(faulted[1].log)")
                await provider.state.releaseAll()
                for session in sessions { _ = try await h.waitUntilEnded(session.workflow, session: session.id, token: alice, timeout: .seconds(180)) }
                for session in sessions { await session.task.value }
                // Reads through nginx show every session whole while the standby lags, and once it is stopped.
                for condition in ["lagging", "stopped"] {
                    if condition == "stopped" { try await Self.pgScript(["standby", "stop"]) }
                    for session in sessions {
                        let page = try await h.call("GET", "/api/sessions/\(session.id)/events?limit=10000", token: alice)
                        #expect((page.json?["events"] as? [[String: Any]])?.count == (try await h.log(session.id)).count,
                                "\(session.id) with the standby \(condition): \(page.text.prefix(200))")
                    }
                }
                let answered = try await h.call("GET", "/metrics").text
                for reason in ["standby_behind", "standby_unreachable"] {
                    #expect(answered.contains("outline_replica_reads_total{served_by=\"primary\",reason=\"\(reason)\"}")
                            || answered.contains("outline_replica_reads_total{reason=\"\(reason)\",served_by=\"primary\"}"), "no read fell back for \(reason)")
                }
            } catch {
                try? await Self.pgScript(["standby", "start"])
                try? await TestStandby.setReplayPaused(false, primary: settings)
                throw error
            }
            try await Self.pgScript(["standby", "start"])
            try await TestStandby.caughtUp(primary: pool, standby: standby)

            for session in sessions {
                let log = try await h.log(session.id)
                let ids = session.reader.ids.withLock { $0 }
                #expect(ids == Array(1...log.count), "\(session.id): \(session.reader.connections.withLock { $0 }) connections; received \(ids.count) ids, the log has \(log.count)")
                #expect(log.last?.eventType == "session.completed", "\(session.id) ended with \(log.last?.eventType ?? "nothing")")
                #expect(await provider.state.researchCreates(forSession: session.id) == 1, "\(session.id) was charged more than once")
                // A replay through nginx, served by the standby now that it has caught up, equals the primary's log.
                let page = try await h.call("GET", "/api/sessions/\(session.id)/events?limit=10000", token: alice)
                let replayed = (page.json?["events"] as? [[String: Any]]) ?? []
                #expect(replayed.compactMap { $0["sequence"] as? Int } == log.map { Int($0.sequence) })
                #expect(replayed.compactMap { $0["chainLink"] as? String } == log.map { Hex.encode($0.chainLink) })
            }
            #expect(sessions.contains { $0.reader.connections.withLock { $0 } > 1 }, "no reader had to reconnect: the faults missed the streams")
            let metrics = try await h.call("GET", "/metrics")
            #expect(metrics.text.contains("outline_replica_reads_total{served_by=\"standby\"}"), "the surviving instance served no read from the standby")
        }
    }
}
