import Foundation
import OpenAIResponses
import ProviderHTTP

/// A browser's EventSource for one session, as the torture run treats it: it
/// reads the stream from either instance, hangs up now and then, loses its
/// connection when an instance dies, and always reconnects with Last-Event-ID
/// (to either instance) until the terminal event. It keeps every event it
/// received, across all its connections, to compare with the log.
struct ResumingReader: Sendable {
    struct Received: Sendable, Equatable {
        var id: Int32
        var event: String
        var data: String
    }

    let session: String
    let workflow: String
    let streamToken: String
    let instances: [String]
    let seed: UInt64

    static let terminal: Set<String> = ["session.completed", "session.failed", "session.cancelled"]

    /// Reads until the terminal event (or `deadline`); returns what it got and how often it reconnected.
    func run(until deadline: ContinuousClock.Instant) async -> (events: [Received], connections: Int) {
        var random = SeededRandom(seed: seed)
        var received: [Received] = []
        var connections = 0
        let client = CurlHTTPClient()
        while ContinuousClock.now < deadline {
            let base = instances[Int.random(in: 0..<instances.count, using: &random)]
            var url = base + "/api/workflows/\(workflow)/outline-generation/stream?sessionId=\(session)&token=\(streamToken)"
            var headers: [(name: String, value: String)] = [("Accept", "text/event-stream")]
            if let last = received.last { headers.append(("Last-Event-ID", String(last.id))) } else { url += "&from=0" }
            // Now and then the client hangs up by itself after a few events.
            let hangUpAfter = Int.random(in: 0..<4, using: &random) == 0 ? Int.random(in: 5...200, using: &random) : Int.max
            connections += 1
            var parser = ServerSentEventParser()
            var inThisConnection = 0
            var ended = false
            do {
                parts: for try await part in client.stream(HTTPRequest(url: url, headers: headers, totalTimeout: .seconds(600))) {
                    switch part {
                    case .head(let head):
                        if head.status == 204 { ended = true; break parts }
                        if head.status != 200 { break parts }
                    case .body(let bytes):
                        for event in parser.feed(bytes) {
                            guard let idText = event.id, let id = Int32(idText) else { continue }
                            received.append(Received(id: id, event: event.event ?? "message", data: event.data))
                            inThisConnection += 1
                            if Self.terminal.contains(event.event ?? "") { ended = true; break parts }
                            if inThisConnection >= hangUpAfter { break parts }
                        }
                    }
                }
            } catch {
                // The instance died or the connection dropped: reconnect below.
            }
            if ended { break }
            try? await Task.sleep(for: .milliseconds(Int.random(in: 50...400, using: &random)))
        }
        return (received, connections)
    }
}
