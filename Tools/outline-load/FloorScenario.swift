import BenchmarkSupport
import Foundation
import ProviderHTTP
#if canImport(Glibc)
import Glibc
#endif

/// The same load client against `outline-floor`, the bare in-memory Hummingbird
/// broadcaster: what any Hummingbird SSE server pays per idle connection and per
/// delivery, printed beside the service's own figures (issue 12's anchor).
struct FloorScenario {
    let clients: Int
    let sessions: Int
    let events: Int
    let paceMs: Int
    let idleConnections: Int
    var reader = ReaderKind.epoll

    /// What the client runs against: `outline-floor` (it publishes by itself once
    /// started), or nginx with nchan (this tool publishes each frame by POST).
    enum Target {
        case floor(binary: String)
        case nchan(module: String)

        /// Whether this tool publishes the frames (nchan) or the anchor does (the floor).
        var publishes: Bool { if case .nchan = self { true } else { false } }
    }

    /// What one anchor measured: the fan-out, and memory per idle connection if asked.
    struct Figures {
        var fanOut: FanOutFigures
        var idleKB: Double?
    }

    @discardableResult
    func run(_ target: Target) async throws -> Figures {
        var idleKB: Double?
        let process: Process, url: String, name: String
        switch target {
        case .floor(let binary): (process, url) = try await Self.startFloor(binary: binary, sessions: sessions, events: events, paceMs: paceMs); name = "floor"
        case .nchan(let module): (process, url) = try await Self.startNchan(module: module); name = "nchan"
        }
        // The whole tree: SIGKILL on nginx's master alone left its worker behind,
        // holding its connections and memory through every later run.
        defer { for member in Self.tree(process.processIdentifier).reversed() { kill(member, SIGKILL) } }
        let pid = process.processIdentifier
        let http = CurlHTTPClient()
        switch target {
        case .floor: print("floor: bare Hummingbird SSE broadcaster in memory (outline-floor, pid \(pid)), \(sessions) sessions of \(events) frames every \(paceMs) ms")
        case .nchan: print("nchan: nginx + nchan in memory (pid \(pid), one worker), \(sessions) channels of \(events) frames every \(paceMs) ms, published by this tool")
        }

        if idleConnections > 0 {
            // Raw loopback connections that send one request and only hold the line:
            // nchan answers its headers only with a first message, so "open" here
            // means connected and asked, for both anchors alike.
            let before = Self.residentKiB(tree: pid)
            let port = try AbuseScenario.port(of: url)
            let sockets = try AbuseScenario.openNonReading(idleConnections, port: port) { index in
                Array("GET /sub/\(index % sessions) HTTP/1.1\r\nHost: load\r\nAccept: text/event-stream\r\n\r\n".utf8)
            }
            try await Task.sleep(for: .seconds(5))
            let open = sockets.filter { AbuseScenario.isOpen($0) }.count
            let after = Self.residentKiB(tree: pid)
            idleKB = Double(after - before) * 1.024 / Double(max(open, 1))
            print(String(format: "  idle: %d of %d connections open; \(name) memory %d MiB before, %d MiB with them: %.1f KB per connection",
                         open, idleConnections, before / 1024, after / 1024, Double(after - before) * 1.024 / Double(max(open, 1))))
            sockets.forEach { close($0) }
            try await Task.sleep(for: .seconds(2))
        }

        // Fan-out: every client from the start, then the publishers start.
        let urls = (0..<clients).map { url + "/sub/\($0 % sessions)?" }
        let clientTasks = Task { [reader] in try await reader.read(urls, disconnectProbability: 0) }
        try await Task.sleep(for: .seconds(2))
        let cpuBefore = Self.cpuSeconds(tree: pid), ownBefore = LoadStack.cpuSeconds(pid: getpid()), machineBefore = LoadStack.machineBusySeconds()
        let started = ContinuousClock.now
        var publishers: Task<Void, Never>?
        switch target {
        case .floor:
            _ = try await http.send(ProviderHTTP.HTTPRequest(method: "POST", url: url + "/start"))
        case .nchan:
            let (sessions, events, pace) = (self.sessions, self.events, Duration.milliseconds(paceMs))
            publishers = Task {
                await withTaskGroup(of: Void.self) { group in
                    for channel in 0..<sessions {
                        group.addTask {
                            for sequence in 1...events {
                                try? await Task.sleep(for: pace)
                                let last = sequence == events
                                let data = "{\"t\":\(String(format: "%.6f", Date().timeIntervalSince1970)),\"seq\":\(sequence),\"delta\":\"\(String(repeating: "x", count: 40))\"" + (last ? ",\"last\":true}" : "}")
                                _ = try? await http.send(ProviderHTTP.HTTPRequest(method: "POST", url: url + "/pub/\(channel)",
                                    headers: [("X-EventSource-Event", last ? "session.completed" : "output_text.delta")], body: Array(data.utf8)))
                            }
                        }
                    }
                }
            }
        }
        let results = try await clientTasks.value
        await publishers?.value
        let elapsed = seconds(since: started)
        let cpu = Self.cpuSeconds(tree: pid) - cpuBefore, own = LoadStack.cpuSeconds(pid: getpid()) - ownBefore, machine = LoadStack.machineBusySeconds() - machineBefore
        var delivered = 0, wrong = 0, failed = 0
        var latencies: [Double] = []
        for result in results {
            delivered += result.ids.count
            if result.ids != Array(1...Int32(events)) { wrong += 1 }
            if result.failure != nil { failed += 1 }
            for (index, published) in result.published.enumerated() {
                if let published { latencies.append((result.arrivals[index] - published) * 1000) }
            }
        }
        let summary = LatencySummary(latencies)
        print("  fan-out: \(clients) clients over \(sessions) sessions")
        print(String(format: "    delivered %d events in %.1f s: %.0f events/s", delivered, elapsed, Double(delivered) / elapsed))
        print("    delivery latency (published → client read): \(summary.text) over \(latencies.count) deliveries")
        print("    clients with a gap, duplicate or wrong order: \(wrong); failed: \(failed)")
        print(String(format: "    CPU: \(name) %.2f cores, %.1f µs per delivery; this tool (\(reader.rawValue) client\(target.publishes ? " and publisher" : "")) %.2f cores; the machine %.2f",
                     cpu / elapsed, cpu / Double(max(delivered, 1)) * 1e6, own / elapsed, machine / elapsed))
        return Figures(fanOut: FanOutFigures(delivered: delivered, seconds: elapsed, latency: summary, serverCPU: cpu, wrongClients: wrong + failed, toolCores: own / elapsed),
                       idleKB: idleKB)
    }

    static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
    }

    /// A process and its children (nginx's master and worker).
    static func tree(_ pid: Int32) -> [Int32] {
        let children = ((try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? "")
            .split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return [pid] + children
    }

    static func residentKiB(tree pid: Int32) -> Int { tree(pid).reduce(0) { $0 + residentKiB($1) } }
    static func cpuSeconds(tree pid: Int32) -> Double { tree(pid).reduce(0) { $0 + LoadStack.cpuSeconds(pid: $1) } }

    static func startFloor(binary: String, sessions: Int, events: Int, paceMs: Int) async throws -> (Process, String) {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("outline-floor-port-\(getpid())").path
        try? FileManager.default.removeItem(atPath: portFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--port", "0", "--port-file", portFile, "--sessions", String(sessions), "--events", String(events), "--pace-ms", String(paceMs)]
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) { return (process, "http://127.0.0.1:\(port)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(process.processIdentifier, SIGKILL)
        throw LoadError("outline-floor (\(binary)) did not start")
    }

    /// nginx in the foreground with one worker, nchan's publisher and EventSource
    /// subscriber locations, messages kept in memory, on a free loopback port.
    static func startNchan(module: String) async throws -> (Process, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("outline-nchan-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try freePort()
        let config = """
        load_module \(module);
        worker_processes 1;
        worker_rlimit_nofile 20000;
        error_log \(directory.path)/error.log warn;
        pid \(directory.path)/nginx.pid;
        events { worker_connections 19000; }
        http {
          access_log off;
          client_body_temp_path \(directory.path)/body;
          server {
            listen 127.0.0.1:\(port) backlog=4096;
            location ~ ^/pub/(\\w+)$ { nchan_publisher; nchan_channel_id $1; nchan_message_buffer_length 100000; nchan_message_timeout 10m; }
            location ~ ^/sub/(\\w+)$ { nchan_subscriber eventsource; nchan_channel_id $1; nchan_subscriber_first_message oldest; }
          }
        }
        """
        let file = directory.appendingPathComponent("nginx.conf")
        try config.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-p", directory.path, "-c", file.path, "-e", directory.path + "/error.log", "-g", "daemon off;"]
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let http = CurlHTTPClient()
        for _ in 0..<100 {
            if let (head, _) = try? await http.send(ProviderHTTP.HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/pub/probe", body: Array("{}".utf8))), head.status < 500 {
                return (process, "http://127.0.0.1:\(port)")
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(process.processIdentifier, SIGKILL)
        throw LoadError("nginx with nchan did not start (see \(directory.path)/error.log; run Tools/dev/nchan-deps.sh)")
    }

    /// A loopback port nobody listens on now.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw LoadError("no free port: errno \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }
}
