import EventLog
import BenchmarkSupport
import Foundation
import OutlineAuth
import PostgresClient
import ProviderHTTP

/// N SSE clients over S live sessions, optionally hanging up at random: what
/// the service delivers per second, how long an event takes from the runner
/// receiving it from the provider (its `recorded_at`) to a client reading it,
/// and whether any client saw a gap or a duplicate.
struct FanOutScenario {
    let clients: Int
    let sessions: Int
    let disconnectProbability: Double
    var reader = ReaderKind.epoll
    /// When the provider holds every run before its first event, the clients attach
    /// first and this releases the runs together (as the anchors start publishing
    /// only once their clients listen); without it the clients replay what they missed.
    var release: (@Sendable () async -> Void)? = nil
    var workflowPrefix = "wf-load"

    @discardableResult
    func run(stack: LoadStack, pool: PostgresPool, signer: TokenSigner) async throws -> FanOutFigures {
        let http = CurlHTTPClient()
        let token = try await signer.sign(AccessToken(subject: "load", role: .user, expiresAt: Date().addingTimeInterval(3600)))
        // Start the sessions, then attach the clients at once (they replay what they missed).
        var streams: [(session: String, url: String)] = []
        for index in 0..<sessions {
            let started = try await stack.startSession("\(workflowPrefix)-\(index)", body: #"{"prompt": "Load test", "skipClarification": true}"#, http: http, token: token)
            streams.append((started.session, stack.url + started.streamPath))
        }
        let urls = (0..<clients).map { streams[$0 % sessions].url }
        let reading = Task { try await reader.read(urls, disconnectProbability: disconnectProbability) }
        // With a held start, only events recorded after the release count: the
        // sessions' first events, written while the clients were still connecting
        // (a thousand backlog reads at once), are not the live load.
        var countFrom = 0.0
        if let release {
            try await Task.sleep(for: .seconds(2))
            countFrom = Date().timeIntervalSince1970
            await release()
        }
        let started = ContinuousClock.now, startedWall = Date().timeIntervalSince1970
        let serverCPU = stack.serverCPUSeconds, ownCPU = LoadStack.cpuSeconds(pid: getpid())
        let postgresCPU = LoadStack.postgresCPUSeconds(), machineCPU = LoadStack.machineBusySeconds()
        let results = try await reading.value.enumerated().map { ($0.offset % sessions, $0.element) }
        let elapsed = seconds(since: started)
        let memory = stack.memory
        let serverBusy = (stack.serverCPUSeconds - serverCPU) / elapsed, ownBusy = (LoadStack.cpuSeconds(pid: getpid()) - ownCPU) / elapsed
        let postgresBusy = (LoadStack.postgresCPUSeconds() - postgresCPU) / elapsed, machineBusy = (LoadStack.machineBusySeconds() - machineCPU) / elapsed
        let metrics = String(decoding: try await http.send(ProviderHTTP.HTTPRequest(url: stack.url + "/metrics")).body, as: UTF8.self)
        let counters = metrics.split(separator: "\n").filter { $0.hasPrefix("outline_feed_fetches_total") || $0.hasPrefix("outline_feed_commits_handed_over_total") || $0.hasPrefix("outline_sse_events_sent_total") || $0.hasPrefix("outline_feed_own_notifications_skipped_total") }
        // Compare every client's concatenation with the log, and time each live delivery.
        var recorded: [Int: [Int32: Double]] = [:]
        var logIDs: [Int: [Int32]] = [:]
        for (index, stream) in streams.enumerated() {
            let rows = try await pool.query("SELECT sequence, extract(epoch FROM recorded_at)::float8 FROM outline_events WHERE session_id = $1 ORDER BY sequence", UUID(uuidString: stream.session)!)
            var times: [Int32: Double] = [:]
            var ids: [Int32] = []
            for row in rows {
                let sequence = try row.decode(Int32.self, at: 0)
                times[sequence] = try row.decode(Double.self, at: 1)
                ids.append(sequence)
            }
            recorded[index] = times
            logIDs[index] = ids
        }
        var delivered = 0, gaps = 0, duplicates = 0, reconnects = 0, failures = 0, bytes = 0
        var latencies: [Double] = []
        var bySecond: [Int: [Double]] = [:]
        for (session, result) in results {
            delivered += result.ids.count
            reconnects += result.reconnects
            bytes += result.bytes
            if result.failure != nil { failures += 1 }
            let expected = logIDs[session] ?? []
            if result.ids != expected {
                duplicates += result.ids.count - Set(result.ids).count
                gaps += Set(expected).subtracting(result.ids).count
                if duplicates == 0 && gaps == 0 { gaps += 1 } // out of order
            }
            for (index, id) in result.ids.enumerated() {
                guard let at = recorded[session]?[id], at >= result.connectedAt[index], at >= countFrom else { continue } // live deliveries only
                latencies.append((result.arrivals[index] - at) * 1000)
                bySecond[Int(max(0, result.arrivals[index] - startedWall)), default: []].append((result.arrivals[index] - at) * 1000)
            }
        }
        let summary = LatencySummary(latencies)
        print("  read by the \(reader.rawValue) client" + (release == nil ? "" : "; the runs started together once every client listened, latency counted from then"))
        print("fan-out: \(clients) clients over \(sessions) sessions, disconnect probability \(disconnectProbability) per event")
        print(String(format: "  delivered %d events in %.1f s: %.0f events/s (%.1f MB/s)", delivered, elapsed, Double(delivered) / elapsed, Double(bytes) / elapsed / 1e6))
        print("  delivery latency (runner received from provider → client read), live deliveries: \(summary.text) over \(latencies.count) deliveries")
        print("  p99 by second of the run: " + bySecond.keys.sorted().map { String(format: "%.0f", LatencySummary(bySecond[$0]!).percentile(0.99)) }.joined(separator: " ") + " ms")
        print("  reconnects \(reconnects), gaps \(gaps), duplicates \(duplicates), clients failed \(failures)")
        print("  server: " + counters.joined(separator: "; "))
        print("  append batch (one transaction, durable commit): " + PrometheusHistogram(named: "outline_append_batch_seconds", in: metrics).text)
        print(String(format: "  CPU while streaming: server %.2f cores, PostgreSQL %.2f, this tool (clients + simulated provider) %.2f; the machine %.2f of %d",
                     serverBusy, postgresBusy, ownBusy, machineBusy, ProcessInfo.processInfo.activeProcessorCount))
        print("  server memory: \(memory.rss / 1024) MiB resident, \(memory.peak / 1024) MiB peak; \(stack.threads) threads")
        let phases = ["checkout", "heads", "projections", "append_function", "commit", "resume"].map { phase -> String in
            let histogram = PrometheusHistogram(named: "outline_append_phase_seconds", labeled: "phase=\"\(phase)\"", in: metrics)
            return phase + String(format: " %.2f", histogram.count > 0 ? histogram.sum / histogram.count * 1000 : 0)
        }
        print("  append transaction phases, mean ms: " + phases.joined(separator: ", "))
        for stage in ["provider_to_runner", "runner_to_commit", "commit_to_feed", "feed_to_write"] {
            let histogram = PrometheusHistogram(named: "outline_live_stage_seconds", labeled: "stage=\"\(stage)\"", in: metrics)
            print("  stage \(stage): " + histogram.text + String(format: "; %.2f %% over 50 ms, %.2f %% over 200 ms", histogram.share(over: 0.05) * 100, histogram.share(over: 0.2) * 100))
        }
        return FanOutFigures(delivered: delivered, seconds: elapsed, latency: summary, serverCPU: serverBusy * elapsed,
                             wrongClients: failures + results.filter { logIDs[$0.0] != $0.1.ids }.count, toolCores: ownBusy)
    }
}
