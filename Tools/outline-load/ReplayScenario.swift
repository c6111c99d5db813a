import EventLog
import BenchmarkSupport
import Foundation
import OutlineAuth
import OpenAIResponses
import OutlineProjections
import PostgresClient
import ProviderHTTP

/// One client replaying a long finished session from the start: how fast the
/// log reaches one SSE connection (CONTRACT §7: ≥ 200,000 events/s).
struct ReplayScenario {
    let events: Int

    func run(stack: LoadStack, pool: PostgresPool, signer: TokenSigner) async throws {
        let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
        let session = UUID()
        let workflow = "wf-replay"
        var head = try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: [
            NewEvent(.sessionStarted(SessionStarted(workflowId: workflow, prompt: "Replay", mode: .streaming, requestedBy: "load", skipClarification: true))),
        ])).lastSequence
        let words = ["tidal ", "energy ", "grid ", "Europe ", "costs ", "sites "]
        var written = 1
        while written < events - 1 {
            let count = min(2000, events - 1 - written)
            let batch = (0..<count).map { index in
                NewEvent(.outputTextDelta(OutputTextDelta(itemId: "msg", outputIndex: 0, contentIndex: 0, delta: words[(written + index) % words.count], providerSequence: nil)))
            }
            head = try await store.append(StreamAppend(sessionID: session, expectedSequence: head, events: batch)).lastSequence
            written += count
        }
        _ = try await store.append(StreamAppend(sessionID: session, expectedSequence: head, events: [
            NewEvent(.completed(SessionCompleted(finalOutline: "done", citations: []))),
        ]))
        // A production log has planner statistics (autovacuum); a table filled
        // seconds ago has none, and the planner would scan it for every page.
        try await pool.query("ANALYZE outline_events")
        let admin = try await signer.sign(AccessToken(subject: "analyst", role: .admin, expiresAt: Date().addingTimeInterval(3600)))
        let url = stack.url + "/api/workflows/\(workflow)/outline-generation/stream?sessionId=\(session.uuidString.lowercased())&from=0"
        print("replay: one SSE connection, \(events) events from the start of a finished session")
        try await replay(url: url, authorization: "Bearer \(admin)", label: "hot rows")
        // The same session once compacted into LZ4 segments (what every finished session becomes).
        let started = ContinuousClock.now
        guard case .compacted(let done) = try await Compactor(pool: pool).compact(session: session) else { throw LoadError("the replayed session was not compacted") }
        print(String(format: "  compacted into %d segments in %.2f s (%.1f%% of its JSON)", done.segments, seconds(since: started),
                     100 * Double(done.storedSize) / Double(max(done.jsonSize, 1))))
        try await replay(url: url, authorization: "Bearer \(admin)", label: "segments")
    }

    private func replay(url: String, authorization: String, label: String) async throws {
        let started = ContinuousClock.now
        let result = await StreamClient(http: CurlHTTPClient(), url: url, disconnectProbability: 0).readOnce(authorization: authorization)
        let elapsed = seconds(since: started)
        guard result.ids.count == events, result.ids == Array(1...Int32(events)) else {
            throw LoadError("replay (\(label)) delivered \(result.ids.count) of \(events) events (\(result.failure ?? "no error"))")
        }
        print(String(format: "  from %@: %.0f events/s, %.1f MB/s (%.2f s); every id 1…%d once, in order",
                     label as NSString, Double(events) / elapsed, Double(result.bytes) / elapsed / 1e6, elapsed, events))
    }
}

extension StreamClient {
    /// A single connection with a bearer header (analysts and admins), read to its end.
    func readOnce(authorization: String) async -> Result {
        var result = Result()
        var parser = ServerSentEventParser()
        do {
            for try await part in http.stream(ProviderHTTP.HTTPRequest(url: url, headers: [("Authorization", authorization), ("Accept", "text/event-stream")], totalTimeout: .seconds(300))) {
                if case .body(let bytes) = part {
                    result.bytes += bytes.count
                    for event in parser.feed(bytes) {
                        if let id = event.id.flatMap({ Int32($0) }) { result.ids.append(id) }
                    }
                }
            }
        } catch {
            result.failure = "\(error)"
        }
        return result
    }
}
