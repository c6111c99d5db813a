import BenchmarkSupport
import Foundation
import OutlineAuth
import ProviderHTTP
#if canImport(Glibc)
import Glibc
#endif

/// Issue 10's abuse, measured: live sessions run on a quiet server, then beside
/// thousands of SSE clients that never read, then beside hundreds of loops
/// hammering `/readyz`, then beside both. The server's own append histograms
/// (`outline_append_wait_seconds`: the runner receiving an event → its commit;
/// `outline_append_batch_seconds`: one batch's transaction) are read before and
/// after each phase, so the figures are the appends of that phase alone. Each
/// phase also prints the CPU the server, this tool and the whole machine used,
/// so a slower phase shows whether the server paid for the abuse or the cores
/// were simply shared with the load generator.
struct AbuseScenario {
    let sessions: Int
    let connections: Int
    let readinessLoops: Int

    struct Phase {
        let name: String
        let nonReading: Bool
        let readiness: Bool
        /// The control: a thread of this tool spins on one core and nothing
        /// touches the server, so its figures are what sharing the cores costs.
        var spinner = false
    }

    func run(stack: LoadStack, signer: TokenSigner) async throws {
        let http = CurlHTTPClient()
        let token = try await signer.sign(AccessToken(subject: "load", role: .user, expiresAt: Date().addingTimeInterval(3600)))
        print("abuse: \(sessions) live sessions per phase: quiet, beside \(connections) SSE clients that never read, beside \(readinessLoops) /readyz loops, beside both, and beside one spinning core (the control)")
        let port = try Self.port(of: stack.url)
        var requests: [[UInt8]] = []
        let phases = [Phase(name: "quiet", nonReading: false, readiness: false),
                      Phase(name: "non-reading clients", nonReading: true, readiness: false),
                      Phase(name: "/readyz loops", nonReading: false, readiness: true),
                      Phase(name: "both", nonReading: true, readiness: true),
                      Phase(name: "control: one spinning core, no abuse", nonReading: false, readiness: false, spinner: true)]
        for (index, phase) in phases.enumerated() {
            // The abusers ask for the quiet sessions' whole logs from the start and never read.
            let sockets = phase.nonReading ? try Self.openNonReading(connections, port: port) { requests[$0 % requests.count] } : []
            let stopLoops = StopFlag()
            if phase.spinner {
                let spin = Thread { while !stopLoops.isSet { for _ in 0..<10_000 { _ = getpid() } } }
                spin.start()
            }
            let loops = Task {
                await withTaskGroup(of: (Int, Int).self) { group in
                    for _ in 0..<(phase.readiness ? readinessLoops : 0) {
                        group.addTask {
                            var calls = 0, failures = 0
                            while !stopLoops.isSet {
                                calls += 1
                                let status = (try? await http.send(ProviderHTTP.HTTPRequest(url: stack.url + "/readyz")).0.status) ?? 0
                                if status != 200 { failures += 1 }
                            }
                            return (calls, failures)
                        }
                    }
                    return await group.reduce(into: (0, 0)) { $0.0 += $1.0; $0.1 += $1.1 }
                }
            }
            let memoryBefore = stack.memory.rss
            let before = try await histograms(http, stack)
            let cpu = CPUClock(server: stack.process.processIdentifier)
            let runs = try await runSessions(prefix: "wf-abuse-\(index)", http: http, stack: stack, token: token)
            let used = cpu.elapsed()
            let after = try await histograms(http, stack)
            let memoryDuring = stack.memory.rss
            stopLoops.set()
            let (calls, failures) = await loops.value
            let stillOpen = sockets.filter { Self.isOpen($0) }.count
            sockets.forEach { close($0) }
            if requests.isEmpty { requests = runs.map { Array("GET \($0.path)&lastEventId=0 HTTP/1.1\r\nHost: load\r\n\r\n".utf8) } }

            let wait = after.wait.minus(before.wait), batch = after.batch.minus(before.batch)
            print("  \(phase.name): \(runs.filter { $0.status == "completed" }.count)/\(runs.count) sessions completed in \(String(format: "%.1f", runs.map(\.seconds).max() ?? 0)) s")
            print("    record → commit (outline_append_wait_seconds): \(wait.text) over \(Int(wait.count)) batches")
            print("    batch transaction (outline_append_batch_seconds): \(batch.text) over \(Int(batch.count)) batches")
            print("    CPU: server \(used.server), this tool \(used.tool), machine \(used.machine) of \(ProcessInfo.processInfo.activeProcessorCount) cores")
            var extras: [String] = ["server memory \(memoryBefore / 1024) → \(memoryDuring / 1024) MiB"]
            if phase.readiness { extras.append("\(calls) /readyz calls (\(failures) not 200)") }
            if phase.nonReading { extras.append("\(stillOpen) of \(connections) non-reading clients still open at the end") }
            print("    " + extras.joined(separator: "; "))
        }
    }

    struct SessionRun { let path: String; let status: String; let seconds: Double }

    /// Starts `sessions` sessions at once and waits (polling status, bounded) until each ends.
    private func runSessions(prefix: String, http: CurlHTTPClient, stack: LoadStack, token: String) async throws -> [SessionRun] {
        let started = ContinuousClock.now
        var runs: [(workflow: String, started: LoadStack.StartedSession)] = []
        for index in 0..<sessions {
            let workflow = "\(prefix)-\(index)"
            runs.append((workflow, try await stack.startSession(workflow, body: #"{"prompt": "Abuse test", "skipClarification": true}"#, http: http, token: token)))
        }
        var results: [SessionRun] = []
        for run in runs {
            var status = "running"
            while !["completed", "failed", "cancelled"].contains(status) {
                guard ContinuousClock.now - started < .seconds(600) else { throw LoadError("session \(run.started.session) did not end within 600 s") }
                try await Task.sleep(for: .milliseconds(100))
                let (_, body) = try await http.send(ProviderHTTP.HTTPRequest(
                    url: stack.url + "/api/workflows/\(run.workflow)/outline-generation/status?sessionId=\(run.started.session)", headers: [("Authorization", "Bearer \(token)")]))
                status = ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])?["status"] as? String ?? status
            }
            results.append(SessionRun(path: run.started.streamPath, status: status, seconds: seconds(since: started)))
        }
        return results
    }

    private func histograms(_ http: CurlHTTPClient, _ stack: LoadStack) async throws -> (wait: PrometheusHistogram, batch: PrometheusHistogram) {
        let text = String(decoding: try await http.send(ProviderHTTP.HTTPRequest(url: stack.url + "/metrics")).body, as: UTF8.self)
        return (PrometheusHistogram(named: "outline_append_wait_seconds", in: text), PrometheusHistogram(named: "outline_append_batch_seconds", in: text))
    }

    static func port(of url: String) throws -> UInt16 {
        guard let text = url.split(separator: ":").last, let port = UInt16(text) else { throw LoadError("no port in \(url)") }
        return port
    }

    /// Loopback connections with a 2 KiB receive buffer that send one request and never read.
    static func openNonReading(_ count: Int, port: UInt16, request: (Int) -> [UInt8]) throws -> [Int32] {
        var sockets: [Int32] = []
        for index in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { sockets.forEach { close($0) }; throw LoadError("socket: errno \(errno) after \(index) connections") }
            var size: Int32 = 2048
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(fd); sockets.forEach { close($0) }; throw LoadError("connect: errno \(errno) after \(index) connections") }
            let bytes = request(index)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            sockets.append(fd)
        }
        return sockets
    }

    /// Whether the server still holds the connection (no end of stream or error pending).
    static func isOpen(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(0x2000) /* POLLRDHUP */ | Int16(POLLHUP), revents: 0)
        return poll(&poller, 1, 0) == 0
    }
}

/// A flag the readiness loops watch to stop.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// CPU used since it was made, in cores (CPU seconds per wall second): the
/// server's process, this tool's, and the whole machine's (from /proc/stat),
/// so the rest (PostgreSQL and everything else) is the difference.
struct CPUClock {
    let server: Int32
    let started = ContinuousClock.now
    let serverStart: Double
    let toolStart: Double
    let machineStart: Double

    init(server: Int32) {
        self.server = server
        serverStart = LoadStack.cpuSeconds(pid: server)
        toolStart = LoadStack.cpuSeconds(pid: getpid())
        machineStart = Self.machineBusySeconds()
    }

    func elapsed() -> (server: String, tool: String, machine: String) {
        let wall = max(seconds(since: started), 0.001)
        func cores(_ value: Double) -> String { String(format: "%.2f", value / wall) }
        return (cores(LoadStack.cpuSeconds(pid: server) - serverStart), cores(LoadStack.cpuSeconds(pid: getpid()) - toolStart),
                cores(Self.machineBusySeconds() - machineStart))
    }

    /// Busy CPU seconds of all cores since boot: the first line of /proc/stat less idle and iowait.
    static func machineBusySeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let line = stat.split(separator: "\n").first else { return 0 }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 5 else { return 0 }
        return (fields.reduce(0, +) - fields[3] - fields[4]) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
