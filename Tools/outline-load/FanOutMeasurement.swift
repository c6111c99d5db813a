import BenchmarkSupport
import EventLog
import Foundation
import OutlineAuth
import PostgresClient
import ProviderHTTP

/// The part of a fan-out that does not depend on who serves it: start S
/// sessions through `url` (one instance, or a proxy in front of several),
/// attach N SSE clients, let held runs go, read every stream to its end and
/// compare each client's ids with the log. Shared by the single-server
/// `fanout` scenario and the `topology` scenario.
struct FanOutMeasurement {
    let clients: Int
    let sessions: Int
    let disconnectProbability: Double
    var reader = ReaderKind.epoll
    /// Lets every held run go once the clients listen (nil: the runs were not held).
    var release: (@Sendable () async -> Void)? = nil
    var workflowPrefix = "wf-load"

    /// What was read, and against what.
    struct Outcome {
        var delivered = 0
        var elapsed = 0.0
        var bytes = 0
        var latencies: [Double] = []
        var p99BySecond: [Double] = []
        var reconnects = 0
        var gaps = 0
        var duplicates = 0
        var failures = 0
        /// Clients whose ids differ from the log in any way (gap, duplicate, order) or that failed.
        var wrongClients = 0
        var latency: LatencySummary { LatencySummary(latencies) }
    }

    /// `window` runs when the measured window opens (after the release) and is handed
    /// its length when it closes, so a caller can take snapshots around exactly it.
    func run(url: String, pool: PostgresPool, signer: TokenSigner,
             windowOpens: () async throws -> Void = {}, windowCloses: (Double) async throws -> Void = { _ in }) async throws -> Outcome {
        let http = CurlHTTPClient()
        let token = try await signer.sign(AccessToken(subject: "load", role: .user, expiresAt: Date().addingTimeInterval(3600)))
        var streams: [(session: String, url: String)] = []
        for index in 0..<sessions {
            let started = try await LoadStack.startSession(at: url, "\(workflowPrefix)-\(index)", body: #"{"prompt": "Load test", "skipClarification": true}"#, http: http, token: token)
            streams.append((started.session, url + started.streamPath))
        }
        // Clients in a random order: behind a round-robin proxy, the instance a stream
        // lands on is then unrelated to the one running its session (as a browser's
        // is), not aligned with it by the order of the requests.
        let order = (0..<clients).map { $0 % sessions }.shuffled()
        let urls = order.map { streams[$0].url }
        let reading = Task { try await reader.read(urls, disconnectProbability: disconnectProbability) }
        // With a held start, only events recorded after the release count: the
        // sessions' first events, written while the clients were still connecting
        // (their backlog reads), are not the live load.
        var countFrom = 0.0
        if let release {
            try await Task.sleep(for: .seconds(2))
            countFrom = Date().timeIntervalSince1970
            await release()
        }
        let started = ContinuousClock.now, startedWall = Date().timeIntervalSince1970
        try await windowOpens()
        let results = try await reading.value.enumerated().map { (order[$0.offset], $0.element) }
        var outcome = Outcome()
        outcome.elapsed = seconds(since: started)
        try await windowCloses(outcome.elapsed)
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
        var bySecond: [Int: [Double]] = [:]
        for (session, result) in results {
            outcome.delivered += result.ids.count
            outcome.reconnects += result.reconnects
            outcome.bytes += result.bytes
            if result.failure != nil { outcome.failures += 1 }
            let expected = logIDs[session] ?? []
            if result.ids != expected || result.failure != nil { outcome.wrongClients += 1 }
            if result.ids != expected {
                let duplicates = result.ids.count - Set(result.ids).count, gaps = Set(expected).subtracting(result.ids).count
                outcome.duplicates += duplicates
                outcome.gaps += gaps + (duplicates == 0 && gaps == 0 ? 1 : 0) // out of order counts as a gap
            }
            for (index, id) in result.ids.enumerated() {
                guard let at = recorded[session]?[id], at >= result.connectedAt[index], at >= countFrom else { continue } // live deliveries only
                let latency = (result.arrivals[index] - at) * 1000
                outcome.latencies.append(latency)
                bySecond[Int(max(0, result.arrivals[index] - startedWall)), default: []].append(latency)
            }
        }
        outcome.p99BySecond = bySecond.keys.sorted().map { LatencySummary(bySecond[$0]!).percentile(0.99) }
        return outcome
    }
}
