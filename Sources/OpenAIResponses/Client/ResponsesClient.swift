import Foundation
import Logging
import ProviderHTTP
import Tracing

/// The OpenAI Responses API over libcurl: create (background, streamed or not),
/// retrieve, resume a stream after a sequence number, cancel.
///
/// Retries: calls that cannot charge twice (retrieve, cancel, resume) retry on
/// 429, 5xx and connection failures with backoff. `create` retries only when the
/// provider provably did not take the request: an HTTP 429 or 5xx answer, or a
/// connection that could not be opened. A connection lost after the request was
/// sent is reported, not retried: the response may exist, and the runner finds
/// it rather than paying for a second one.
public struct ResponsesClient: Sendable {
    public let configuration: ResponsesConfiguration
    private let http: CurlHTTPClient
    private let logger: Logger

    public init(configuration: ResponsesConfiguration, http: CurlHTTPClient = CurlHTTPClient(), logger: Logger = Logger(label: "outlinestream.provider")) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
    }

    // MARK: Calls

    /// `POST /v1/responses` without streaming: the response as created (queued, in background mode).
    ///
    /// A create whose connection dropped after it was sent may have reached the
    /// provider, so it is retried only when it surely was not sent, unless
    /// `retryingAfterSend` says a second one costs nothing that matters (a
    /// fast-model call that writes questions or instructions, never research).
    public func create(_ request: CreateResponseRequest, retryingAfterSend: Bool = false) async throws -> ResponseObject {
        var body = request
        body.stream = false
        let encoded = try Self.encoder.encode(body)
        return try await withRetries(operation: "create", onlyWhenNotSent: !retryingAfterSend) {
            try await json(ResponseObject.self, self.httpRequest("POST", "/v1/responses", body: encoded, timeout: true))
        }
    }

    /// `POST /v1/responses` with `stream: true`: the stream's events as they arrive.
    public func createStream(_ request: CreateResponseRequest) -> AsyncThrowingStream<ResponseStreamEvent, any Error> {
        var body = request
        body.stream = true
        let encoded = (try? Self.encoder.encode(body)) ?? Data()
        return events(operation: "create", onlyWhenNotSent: true, httpRequest("POST", "/v1/responses", body: encoded, timeout: false))
    }

    /// `GET /v1/responses/{id}?stream=true&starting_after=N`: the rest of a stream.
    public func resume(responseID: String, after sequenceNumber: Int) -> AsyncThrowingStream<ResponseStreamEvent, any Error> {
        events(operation: "resume", onlyWhenNotSent: false,
               httpRequest("GET", "/v1/responses/\(Self.escape(responseID))?stream=true&starting_after=\(sequenceNumber)", body: nil, timeout: false))
    }

    /// `GET /v1/responses/{id}`: the response now (V2 polling, reconciliation).
    public func retrieve(responseID: String) async throws -> ResponseObject {
        try await withRetries(operation: "retrieve", onlyWhenNotSent: false) {
            try await json(ResponseObject.self, self.httpRequest("GET", "/v1/responses/\(Self.escape(responseID))", body: nil, timeout: true))
        }
    }

    /// `POST /v1/responses/{id}/cancel`: safe to repeat.
    public func cancel(responseID: String) async throws -> ResponseObject {
        try await withRetries(operation: "cancel", onlyWhenNotSent: false) {
            try await json(ResponseObject.self, self.httpRequest("POST", "/v1/responses/\(Self.escape(responseID))/cancel", body: Data(), timeout: true))
        }
    }

    // MARK: Plumbing

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func escape(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_"))) ?? id
    }

    /// `timeout: false` marks a streamed request: no total timeout, a stall timeout, SSE accepted.
    func httpRequest(_ method: String, _ path: String, body: Data?, timeout: Bool) -> HTTPRequest {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json"), ("Accept", timeout ? "application/json" : "text/event-stream")]
        if let key = configuration.apiKey { headers.append(("Authorization", "Bearer \(key)")) }
        return HTTPRequest(method: method, url: configuration.baseURL + path, headers: headers, body: body.map(Array.init),
                           connectTimeout: configuration.connectTimeout,
                           stallTimeout: timeout ? nil : configuration.stallTimeout,
                           totalTimeout: timeout ? configuration.requestTimeout : nil)
    }

    private func json<T: Decodable>(_ type: T.Type, _ request: HTTPRequest) async throws -> T {
        let (head, body) = try await send(request)
        guard (200..<300).contains(head.status) else { throw Self.httpError(head, body) }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw ResponsesError.malformedEvent("the provider's \(T.self) does not match its schema: \(error)")
        }
    }

    private func send(_ request: HTTPRequest) async throws -> (HTTPResponseHead, [UInt8]) {
        try await ProviderCallSpan.around(request) { request, span in
            do {
                let (head, body) = try await http.send(request)
                span.attributes["http.response.status_code"] = head.status
                return (head, body)
            } catch let error as HTTPTransferError {
                throw translate(error)
            }
        }
    }

    func translate(_ error: HTTPTransferError) -> any Error {
        switch error {
        case .stalled: ResponsesError.stalled(seconds: Self.seconds(configuration.stallTimeout))
        case .cancelled: CancellationError()
        case .timedOut: ResponsesError.transport("the request timed out")
        case .transport(let code, let message): ResponsesError.transport("curl \(code): \(message)")
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// True when the request certainly never reached the provider.
    static func notSent(_ error: any Error) -> Bool {
        guard case .transport(let message) = error as? ResponsesError else { return false }
        // CURLE_COULDNT_RESOLVE_HOST (6), CURLE_COULDNT_CONNECT (7), connect timeout reported as 28 before any byte.
        return message.hasPrefix("curl 6:") || message.hasPrefix("curl 7:")
    }

    static func httpError(_ head: HTTPResponseHead, _ body: [UInt8]) -> ResponsesError {
        struct Envelope: Decodable {
            struct Body: Decodable { var message: String?; var code: String?; var type: String? }
            var error: Body?
        }
        let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(body))
        let message = envelope?.error?.message ?? String(decoding: body.prefix(300), as: UTF8.self)
        return .http(status: head.status, code: envelope?.error?.code ?? envelope?.error?.type, message: message,
                     retryAfterSeconds: head.header("retry-after").flatMap(Double.init))
    }

    private func withRetries<T: Sendable>(operation: String, onlyWhenNotSent: Bool, retryStalls: Bool = true,
                                          _ body: @Sendable () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch {
                let responsesError = error as? ResponsesError
                let retryable: Bool
                if onlyWhenNotSent {
                    if case .http(let status, _, _, _) = responsesError { retryable = status == 429 || status >= 500 } else { retryable = Self.notSent(error) }
                } else if case .stalled = responsesError, !retryStalls {
                    retryable = false
                } else {
                    retryable = responsesError?.isRetryable ?? false
                }
                guard retryable, attempt < configuration.retry.maxAttempts else { throw error }
                var retryAfter: Double?
                if case .http(_, _, _, let seconds) = responsesError { retryAfter = seconds }
                let delay = configuration.retry.delay(afterAttempt: attempt, retryAfterSeconds: retryAfter)
                logger.warning("provider call failed; retrying", metadata: [
                    "operation": "\(operation)", "attempt": "\(attempt)", "error": "\(error)", "delay": "\(delay)",
                ])
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// Streams the events of an SSE response. Failures before the first event
    /// are retried (as `withRetries` would); after it, the stream ends with the
    /// error and the caller resumes from the last sequence number it stored.
    private func events(operation: String, onlyWhenNotSent: Bool, _ request: HTTPRequest) -> AsyncThrowingStream<ResponseStreamEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<ResponseStreamEvent, any Error>.makeStream()
        let task = Task {
            do {
                // A stalled stream is the caller's to resume (it knows where it got to).
                try await withRetries(operation: operation, onlyWhenNotSent: onlyWhenNotSent, retryStalls: false) {
                    try await pump(request, into: continuation)
                }
                continuation.finish()
            } catch let ended as StreamEnded {
                continuation.finish(throwing: ended.error)
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Sends one request and yields its events. Throws before yielding anything
    /// when the provider refused (so it may be retried); once an event went out,
    /// errors are not retryable here and end the stream.
    private func pump(_ request: HTTPRequest, into continuation: AsyncThrowingStream<ResponseStreamEvent, any Error>.Continuation) async throws {
        try await ProviderCallSpan.around(request) { request, span in
            try await pumpTraced(request, span: span, into: continuation)
        }
    }

    private func pumpTraced(_ request: HTTPRequest, span: any Span, into continuation: AsyncThrowingStream<ResponseStreamEvent, any Error>.Continuation) async throws {
        var parser = ServerSentEventParser()
        var head: HTTPResponseHead?
        var errorBody: [UInt8] = []
        var delivered = false
        var events = 0
        defer { span.attributes["outline.provider.events"] = events }
        var lastEvent = ContinuousClock.now
        do {
            for try await part in http.stream(request) {
                switch part {
                case .head(let value):
                    head = value
                    span.attributes["http.response.status_code"] = value.status
                    lastEvent = .now // the clock starts once the provider answers
                case .body(let bytes):
                    guard let head, (200..<300).contains(head.status) else {
                        errorBody += bytes
                        continue
                    }
                    let arrived = ContinuousClock.now
                    for event in parser.feed(bytes) {
                        try deliver(event, arrived: arrived, into: continuation)
                        events += 1
                        delivered = true
                        lastEvent = .now
                    }
                    // Bytes but no event for too long: keep-alives only, the run does not move.
                    if ContinuousClock.now - lastEvent > configuration.eventStallTimeout {
                        throw ResponsesError.stalled(seconds: Self.seconds(configuration.eventStallTimeout))
                    }
                }
            }
            if Task.isCancelled { throw CancellationError() }
        } catch let error as HTTPTransferError {
            let translated = translate(error)
            if delivered { throw StreamEnded(error: translated) }
            throw translated
        } catch let error as ResponsesError where delivered {
            throw StreamEnded(error: error)
        }
        guard let head else { throw ResponsesError.transport("the provider closed the connection without answering") }
        guard (200..<300).contains(head.status) else { throw Self.httpError(head, errorBody) }
        for event in parser.finish() { try deliver(event, arrived: .now, into: continuation) }
    }

    private func deliver(_ event: ServerSentEvent, arrived: ContinuousClock.Instant,
                         into continuation: AsyncThrowingStream<ResponseStreamEvent, any Error>.Continuation) throws {
        if event.data == "[DONE]" { return }
        var decoded = try ResponseStreamEvent.decode(event.data)
        decoded.receivedAt = arrived
        continuation.yield(decoded)
    }
}

/// A stream failed after delivering events: not retried by the client (the
/// caller resumes after its last stored sequence number); unwrapped for it.
struct StreamEnded: Error {
    var error: any Error
}
