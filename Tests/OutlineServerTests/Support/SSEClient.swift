import Foundation
import OpenAIResponses
import ProviderHTTP

/// A real streaming SSE client over libcurl, as a browser's EventSource would
/// connect: it reads events as they arrive and can hang up at any point.
struct SSEClient: Sendable {
    let http = CurlHTTPClient()

    struct Connection: Sendable {
        var status: Int
        var contentType: String?
        var events: [ServerSentEvent]
        /// True when the server ended the stream (not the client hanging up).
        var endedByServer: Bool
    }

    /// Connects to `url` and collects events until the server closes, or until
    /// `stop` says to hang up (after the event it was given).
    func connect(_ url: String, headers: [(name: String, value: String)] = [], timeout: Duration = .seconds(60),
                 stop: @Sendable (ServerSentEvent) -> Bool = { _ in false }) async throws -> Connection {
        var parser = ServerSentEventParser()
        var connection = Connection(status: 0, contentType: nil, events: [], endedByServer: true)
        let request = ProviderHTTP.HTTPRequest(url: url, headers: headers + [("Accept", "text/event-stream")], totalTimeout: timeout)
        parts: for try await part in http.stream(request) {
            switch part {
            case .head(let head):
                connection.status = head.status
                connection.contentType = head.header("content-type")
            case .body(let bytes):
                for event in parser.feed(bytes) {
                    connection.events.append(event)
                    if stop(event) {
                        connection.endedByServer = false
                        break parts
                    }
                }
            }
        }
        return connection
    }
}
