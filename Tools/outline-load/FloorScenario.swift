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

    func run(binary: String) async throws {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("outline-floor-port-\(getpid())").path
        try? FileManager.default.removeItem(atPath: portFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--port", "0", "--port-file", portFile, "--sessions", String(sessions), "--events", String(events), "--pace-ms", String(paceMs)]
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var url: String?
        for _ in 0..<200 where url == nil {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) { url = "http://127.0.0.1:\(port)" }
            else { try await Task.sleep(for: .milliseconds(50)) }
        }
        guard let url else { throw LoadError("outline-floor (\(binary)) did not start") }
        let pid = process.processIdentifier
        let http = CurlHTTPClient()
        print("floor: bare Hummingbird SSE broadcaster in memory (outline-floor, pid \(pid)), \(sessions) sessions of \(events) frames every \(paceMs) ms")

        if idleConnections > 0 {
            let before = Self.residentKiB(pid)
            let opened = OpenCounter()
            let holding = Task {
                await withTaskGroup(of: Void.self) { group in
                    for index in 0..<idleConnections {
                        group.addTask {
                            // The sessions have not started: the stream stays open and silent.
                            let request = ProviderHTTP.HTTPRequest(url: url + "/sub/\(index % sessions)", headers: [("Last-Event-ID", "0")], totalTimeout: .seconds(600))
                            do {
                                for try await part in http.stream(request) {
                                    if case .head(let head) = part, head.status == 200 { opened.add() }
                                }
                            } catch {}
                        }
                    }
                }
            }
            let started = ContinuousClock.now
            while opened.count < idleConnections, ContinuousClock.now - started < .seconds(120) { try await Task.sleep(for: .milliseconds(200)) }
            try await Task.sleep(for: .seconds(3))
            let after = Self.residentKiB(pid)
            print(String(format: "  idle: %d of %d connections open; floor memory %d MiB before, %d MiB with them: %.1f KB per connection",
                         opened.count, idleConnections, before / 1024, after / 1024, Double(after - before) * 1.024 / Double(max(opened.count, 1))))
            holding.cancel()
            _ = await holding.value
            try await Task.sleep(for: .seconds(2))
        }

        // Fan-out: every client from the start, then the publishers start.
        let deadline = ContinuousClock.now + .seconds(600)
        let clientTasks = Task {
            await withTaskGroup(of: StreamClient.Result.self) { group in
                for index in 0..<clients {
                    group.addTask { await StreamClient(http: http, url: url + "/sub/\(index % sessions)?", disconnectProbability: 0).run(deadline: deadline) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        try await Task.sleep(for: .seconds(2))
        let cpuBefore = LoadStack.cpuSeconds(pid: pid), ownBefore = LoadStack.cpuSeconds(pid: getpid())
        let started = ContinuousClock.now
        _ = try await http.send(ProviderHTTP.HTTPRequest(method: "POST", url: url + "/start"))
        let results = await clientTasks.value
        let elapsed = seconds(since: started)
        let cpu = LoadStack.cpuSeconds(pid: pid) - cpuBefore, own = LoadStack.cpuSeconds(pid: getpid()) - ownBefore
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
        print(String(format: "    CPU: floor %.2f cores, %.1f µs per delivery; this tool %.2f cores", cpu / elapsed, cpu / Double(max(delivered, 1)) * 1e6, own / elapsed))
    }

    static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
    }
}
