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
        var serverCPU = 0.0, ownCPU = 0.0, postgresCPU = 0.0, machineCPU = 0.0
        var serverBusy = 0.0, ownBusy = 0.0, postgresBusy = 0.0, machineBusy = 0.0
        let outcome = try await FanOutMeasurement(clients: clients, sessions: sessions, disconnectProbability: disconnectProbability, reader: reader,
                                                  release: release, workflowPrefix: workflowPrefix).run(url: stack.url, pool: pool, signer: signer, windowOpens: {
            (serverCPU, ownCPU) = (stack.serverCPUSeconds, LoadStack.cpuSeconds(pid: getpid()))
            (postgresCPU, machineCPU) = (LoadStack.postgresCPUSeconds(), LoadStack.machineBusySeconds())
        }, windowCloses: { elapsed in
            serverBusy = (stack.serverCPUSeconds - serverCPU) / elapsed
            ownBusy = (LoadStack.cpuSeconds(pid: getpid()) - ownCPU) / elapsed
            postgresBusy = (LoadStack.postgresCPUSeconds() - postgresCPU) / elapsed
            machineBusy = (LoadStack.machineBusySeconds() - machineCPU) / elapsed
        })
        let elapsed = outcome.elapsed
        let memory = stack.memory
        let metrics = String(decoding: try await http.send(ProviderHTTP.HTTPRequest(url: stack.url + "/metrics")).body, as: UTF8.self)
        let counters = metrics.split(separator: "\n").filter { $0.hasPrefix("outline_feed_fetches_total") || $0.hasPrefix("outline_feed_commits_handed_over_total") || $0.hasPrefix("outline_sse_events_sent_total") || $0.hasPrefix("outline_feed_own_notifications_skipped_total") }
        let (delivered, bytes, latencies, reconnects, gaps, duplicates, failures) = (outcome.delivered, outcome.bytes, outcome.latencies, outcome.reconnects, outcome.gaps, outcome.duplicates, outcome.failures)
        let summary = LatencySummary(latencies)
        print("  read by the \(reader.rawValue) client" + (release == nil ? "" : "; the runs started together once every client listened, latency counted from then"))
        print("fan-out: \(clients) clients over \(sessions) sessions, disconnect probability \(disconnectProbability) per event")
        print(String(format: "  delivered %d events in %.1f s: %.0f events/s (%.1f MB/s)", delivered, elapsed, Double(delivered) / elapsed, Double(bytes) / elapsed / 1e6))
        print("  delivery latency (runner received from provider → client read), live deliveries: \(summary.text) over \(latencies.count) deliveries")
        print("  p99 by second of the run: " + outcome.p99BySecond.map { String(format: "%.0f", $0) }.joined(separator: " ") + " ms")
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
                             wrongClients: outcome.wrongClients, toolCores: ownBusy)
    }
}
