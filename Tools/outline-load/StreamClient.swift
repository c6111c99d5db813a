import Foundation
import OpenAIResponses
import ProviderHTTP

/// One load client: an EventSource-like reader of one session's stream that
/// records when each event arrived, hangs up at random if asked, and
/// reconnects with Last-Event-ID until the session's terminal event.
struct StreamClient: Sendable {
    let http: CurlHTTPClient
    let url: String
    let disconnectProbability: Double
    var authorization: String? = nil

    struct Result: Sendable {
        /// Event ids in the order received, across every connection.
        var ids: [Int32] = []
        /// Wall-clock arrival time of each event, seconds since 1970.
        var arrivals: [Double] = []
        /// When the connection that delivered each event was opened.
        var connectedAt: [Double] = []
        /// When each event was published, if its data says so (`{"t":…`, the floor's frames).
        var published: [Double?] = []
        var reconnects = 0
        var bytes = 0
        var failure: String?
    }

    static let terminal: Set<String> = ["session.completed", "session.failed", "session.cancelled"]

    /// `t` from data that starts `{"t":<seconds>,`.
    static func publishTime(_ data: String) -> Double? {
        guard data.hasPrefix("{\"t\":") else { return nil }
        let number = data.dropFirst(5).prefix { $0 != "," && $0 != "}" }
        return Double(number)
    }

    /// `seq` from data like `{"t":…,"seq":12,…}` (the anchors' frames).
    static func sequence(_ data: String) -> Int32? {
        guard let range = data.range(of: #""seq":"#) else { return nil }
        return Int32(data[range.upperBound...].prefix { $0.isNumber })
    }

    func run(deadline: ContinuousClock.Instant) async -> Result {
        var result = Result()
        var random = SystemRandomNumberGenerator()
        var cursor: Int32?
        while ContinuousClock.now < deadline {
            var parser = ServerSentEventParser()
            var headers: [(name: String, value: String)] = [("Accept", "text/event-stream")]
            if let cursor { headers.append(("Last-Event-ID", String(cursor))) }
            if let authorization { headers.append(("Authorization", authorization)) }
            let connected = Date().timeIntervalSince1970
            var ended = false
            var hungUp = false
            do {
                stream: for try await part in http.stream(ProviderHTTP.HTTPRequest(url: cursor == nil ? url + "&from=0" : url, headers: headers)) {
                    switch part {
                    case .head(let head):
                        if head.status == 204 { ended = true; break stream }
                        guard head.status == 200 else { result.failure = "HTTP \(head.status)"; return result }
                    case .body(let bytes):
                        let now = Date().timeIntervalSince1970
                        result.bytes += bytes.count
                        for event in parser.feed(bytes) {
                            // nchan numbers messages its own way: the sequence then travels in the data.
                            guard let id = event.id.flatMap({ Int32($0) }) ?? Self.sequence(event.data) else { continue }
                            result.ids.append(id)
                            result.arrivals.append(now)
                            result.connectedAt.append(connected)
                            result.published.append(Self.publishTime(event.data))
                            cursor = id
                            if Self.terminal.contains(event.event ?? "") || event.data.hasSuffix(#","last":true}"#) { ended = true; break stream }
                            if disconnectProbability > 0, Double.random(in: 0..<1, using: &random) < disconnectProbability {
                                hungUp = true
                                break stream
                            }
                        }
                    }
                }
            } catch {
                result.failure = "\(error)"
            }
            if ended { return result }
            if hungUp || result.failure == nil { result.reconnects += 1 }
            if result.failure != nil {
                result.failure = nil
                result.reconnects += 1
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        result.failure = "deadline passed before the session ended"
        return result
    }
}
