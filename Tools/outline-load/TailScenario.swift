import EventLog
import BenchmarkSupport
import Foundation
import OutlineAuth
import OutlineProjections
import PostgresClient
import ProviderHTTP

/// The fan-out alone: this tool appends deltas to S sessions directly (group
/// commit, as the runner would, 25 ms apart per session) while N clients
/// stream them from the server. Without the provider and the runner in the
/// server, it shows what the hub and the SSE path cost by themselves.
struct TailScenario {
    let clients: Int
    let sessions: Int
    let eventsPerSession: Int
    let pace: Duration

    func run(stack: LoadStack, pool: PostgresPool, signer: TokenSigner) async throws {
        let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
        let writer = GroupCommitWriter(store: store)
        let admin = try await signer.sign(AccessToken(subject: "load", role: .admin, expiresAt: Date().addingTimeInterval(3600)))
        var ids: [UUID] = []
        for index in 0..<sessions {
            let id = UUID()
            try await store.append(StreamAppend(sessionID: id, expectedSequence: 0, events: [
                NewEvent(.sessionStarted(SessionStarted(workflowId: "wf-tail-\(index)", prompt: "Tail", mode: .streaming, requestedBy: "load", skipClarification: true))),
            ]))
            ids.append(id)
        }
        let urls = ids.enumerated().map { index, id in
            stack.url + "/api/workflows/wf-tail-\(index)/outline-generation/stream?sessionId=\(id.uuidString.lowercased())"
        }
        let http = CurlHTTPClient()
        let started = ContinuousClock.now
        let serverCPU = stack.serverCPUSeconds
        async let results = withTaskGroup(of: (Int, StreamClient.Result).self) { group in
            for client in 0..<clients {
                group.addTask {
                    (client % sessions, await StreamClient(http: http, url: urls[client % sessions], disconnectProbability: 0, authorization: "Bearer \(admin)")
                        .run(deadline: started + .seconds(600)))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        try await Task.sleep(for: .seconds(1)) // let the clients connect
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask {
                    var head: Int32 = 1
                    for index in 0..<eventsPerSession {
                        let event: OutlineEvent = index == eventsPerSession - 1
                            ? .completed(SessionCompleted(finalOutline: "done", citations: []))
                            : .outputTextDelta(OutputTextDelta(itemId: "msg", outputIndex: 0, contentIndex: 0, delta: "word ", providerSequence: nil))
                        head = try await writer.append(StreamAppend(sessionID: id, expectedSequence: head, events: [NewEvent(event)])).lastSequence
                        try await Task.sleep(for: pace)
                    }
                }
            }
            try await group.waitForAll()
        }
        let collected = await results
        let elapsed = seconds(since: started)
        var latencies: [Double] = []
        var delivered = 0, broken = 0
        for (session, result) in collected {
            delivered += result.ids.count
            if result.ids != Array(1...Int32(eventsPerSession + 1)) { broken += 1 }
            let rows = try await pool.query("SELECT sequence, extract(epoch FROM recorded_at)::float8 FROM outline_events WHERE session_id = $1", ids[session])
            var times: [Int32: Double] = [:]
            for row in rows { times[try row.decode(Int32.self, at: 0)] = try row.decode(Double.self, at: 1) }
            for (index, id) in result.ids.enumerated() {
                guard let at = times[id], at >= result.connectedAt[index] else { continue }
                latencies.append((result.arrivals[index] - at) * 1000)
            }
        }
        print("tail: \(clients) clients over \(sessions) sessions fed by this tool (\(eventsPerSession) events each, one per \(pace) per session)")
        print(String(format: "  delivered %d events in %.1f s: %.0f events/s; clients with a gap, duplicate or wrong order: %d", delivered, elapsed, Double(delivered) / elapsed, broken))
        print("  delivery latency (append → client read): \(LatencySummary(latencies).text) over \(latencies.count) deliveries")
        print(String(format: "  server CPU %.2f cores; memory %d MiB", (stack.serverCPUSeconds - serverCPU) / elapsed, stack.memory.rss / 1024))
    }
}
