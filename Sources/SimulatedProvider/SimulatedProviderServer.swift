import Foundation
import OutlineBasics
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The simulated OpenAI Responses API: the endpoints OutlineStream calls, on
/// loopback, answering in the real wire format with deterministic transcripts,
/// and failing on request. Tests, benchmarks and the embedded default run
/// against it; nothing here ever reaches the real provider.
///
/// Fast models (anything that is not a deep-research model) answer at once and
/// are not streamed: they write clarification questions (`metadata.purpose =
/// clarification_questions`) or research instructions.
public struct SimulatedProviderServer: Sendable {
    public let state: SimulatedProviderState
    public var spec: TranscriptSpec
    public var faults: [SimulatedFault]

    public init(state: SimulatedProviderState = SimulatedProviderState(), spec: TranscriptSpec = TranscriptSpec(), faults: [SimulatedFault] = []) {
        self.state = state
        self.spec = spec
        self.faults = faults
    }

    static let faultHeader = HTTPField.Name("X-Simulated-Fault")!
    static let paceHeader = HTTPField.Name("X-Simulated-Pace-Ms")!
    static let seedHeader = HTTPField.Name("X-Simulated-Seed")!
    static let durationHeader = HTTPField.Name("X-Simulated-Duration-Ms")!

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/v1/responses") { request, _ in try await create(request) }
        router.get("/v1/responses/:id") { request, context in try await retrieveOrResume(request, id: context.parameters.get("id") ?? "") }
        router.post("/v1/responses/:id/cancel") { _, context in try await cancel(id: context.parameters.get("id") ?? "") }
        router.get("/v1/simulator/stats") { _, _ in
            let counts = await state.createCountBySession
            return Self.json(.ok, ["creates": await state.createCount, "creates_by_session": counts,
                                   "research_creates_by_session": await state.researchCreatesBySession, "cancels_by_response": await state.cancelRequestsByResponse])
        }
        // Test control (like the stats): lets the held runs (`hold-at:K`) of one outline
        // session go on, for a test that drives the service from outside (a browser).
        router.post("/v1/simulator/release") { request, _ in
            guard let session = request.uri.queryParameters.get("session"), !session.isEmpty else {
                return Self.error(.badRequest, "Missing required parameter: 'session'.", type: "invalid_request_error", param: "session")
            }
            return Self.json(.ok, ["released": await state.release(session: session.lowercased())])
        }
        return router
    }

    // MARK: Endpoints

    static let traceparentHeader = HTTPField.Name("traceparent")!
    /// How often a waiting stream sends a keep-alive comment.
    static let keepAliveInterval: Duration = .seconds(1)

    private func create(_ request: Request) async throws -> Response {
        await state.noteTraceparent("POST /v1/responses", request.headers[Self.traceparentHeader])
        let faults: [SimulatedFault]
        do {
            faults = try self.faults + SimulatedFault.parse(request.headers[Self.faultHeader] ?? "")
        } catch {
            return Self.error(.badRequest, "\(error)", type: "invalid_request_error")
        }
        if let refusal = await refusal(faults) { return refusal }
        var request = request
        let body = try await request.collectBody(upTo: 4 << 20)
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            return Self.error(.badRequest, "We could not parse the JSON body of your request.", type: "invalid_request_error")
        }
        guard let model = object["model"] as? String, !model.isEmpty else {
            return Self.error(.badRequest, "Missing required parameter: 'model'.", type: "invalid_request_error", param: "model")
        }
        guard let input = object["input"] as? String ?? (object["input"] as? [Any]).map({ "\($0)" }) else {
            return Self.error(.badRequest, "Missing required parameter: 'input'.", type: "invalid_request_error", param: "input")
        }
        let metadata = object["metadata"] as? [String: String] ?? [:]
        let stream = object["stream"] as? Bool ?? false
        let id = "resp_sim" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        guard model.contains("deep-research") else {
            if stream { return Self.error(.badRequest, "The simulated fast model \(model) answers without streaming.", type: "invalid_request_error", param: "stream") }
            await state.register(SimulatedResponse(id: id, transcript: Transcript(spec: TranscriptSpec(webSearches: 0, reasoningSummaries: 0, outputLength: 0),
                                                                                 responseID: id, model: model, createdAt: Int(Date().timeIntervalSince1970)),
                                                   createdAt: .now, pace: .zero, faults: []), session: metadata["outline_session"])
            return Self.json(.ok, Self.fastAnswer(id: id, model: model, input: input, purpose: metadata["purpose"]))
        }
        var spec = self.spec
        // Header values are bounded before they become durations (a day at most).
        if let pace = request.headers[Self.paceHeader].flatMap(Int.init), (0...86_400_000).contains(pace) { spec.pace = .milliseconds(pace) }
        if let total = request.headers[Self.durationHeader].flatMap(Int.init), (0...86_400_000).contains(total) { spec.totalDuration = .milliseconds(total) }
        if let seed = request.headers[Self.seedHeader].flatMap(UInt64.init) {
            spec.seed = seed
        } else if let session = metadata["outline_session"] {
            spec.seed = UInt64(truncatingIfNeeded: session.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) })
        }
        let transcript: Transcript
        if let recorded = spec.recorded {
            do {
                transcript = try Transcript(recorded: recorded, responseID: id)
            } catch {
                return Self.error(.internalServerError, "The recorded transcript cannot be replayed: \(error)", type: "server_error")
            }
        } else {
            transcript = Transcript(spec: spec, responseID: id, model: model, createdAt: Int(Date().timeIntervalSince1970))
        }
        if let total = spec.totalDuration { spec.pace = total / max(1, transcript.events.count - 1) }
        let response = SimulatedResponse(id: id, transcript: transcript, createdAt: .now, pace: spec.pace,
                                         faults: stream && faults.contains(.failStreamed) ? faults + [.fail] : faults)
        await state.register(response, session: metadata["outline_session"], deepResearch: true)
        if stream { return streamResponse(id: id, after: -1, faults: faults) }
        return Self.json(.ok, response.retrieved(at: .now))
    }

    private func retrieveOrResume(_ request: Request, id: String) async throws -> Response {
        await state.noteTraceparent("GET /v1/responses/\(id)\(request.uri.queryParameters.get("stream") == "true" ? " stream" : "")", request.headers[Self.traceparentHeader])
        guard let response = await state.response(id) else { return Self.notFound(id) }
        let extraFaults = (try? SimulatedFault.parse(request.headers[Self.faultHeader] ?? "")) ?? []
        if let refusal = await refusal(faults + extraFaults) { return refusal }
        let resuming = request.uri.queryParameters.get("stream") == "true"
        if let refused = Self.refused(resuming ? "resume" : "retrieve", response.faults + extraFaults) { return refused }
        guard resuming else {
            await state.countRetrieve(id)
            return Self.json(.ok, response.retrieved(at: .now))
        }
        let after: Int
        if let text = request.uri.queryParameters.get("starting_after") {
            guard let value = Int(text), value >= -1 else {
                return Self.error(.badRequest, "Invalid 'starting_after': \(text).", type: "invalid_request_error", param: "starting_after")
            }
            after = value
        } else {
            after = -1
        }
        for case .resumeRefused(let seconds) in response.faults + extraFaults where ContinuousClock.now - response.createdAt > .seconds(clamping: seconds) {
            return Self.error(.badRequest, "Response \(id) can no longer be streamed; retrieve it instead.", type: "invalid_request_error", code: "stream_expired")
        }
        return streamResponse(id: id, after: after, faults: response.faults + extraFaults)
    }

    private func cancel(id: String) async throws -> Response {
        await state.countCancelRequest(id)
        if let existing = await state.response(id), let refused = Self.refused("cancel", faults + existing.faults) { return refused }
        guard let response = await state.cancel(id) else { return Self.notFound(id) }
        return Self.json(.ok, response.retrieved(at: .now))
    }

    /// The answer of a `refuse:operation:status` fault, when one applies.
    static func refused(_ operation: String, _ faults: [SimulatedFault]) -> Response? {
        for case .refuse(let refusedOperation, let status) in faults where refusedOperation == operation {
            return error(HTTPResponse.Status(code: status), "The simulated provider refuses to \(operation) this response.",
                         type: status >= 500 ? "server_error" : "invalid_request_error")
        }
        return nil
    }

    /// A 429 or 500 when a fault says so.
    private func refusal(_ faults: [SimulatedFault]) async -> Response? {
        for (index, fault) in faults.enumerated() {
            switch fault {
            case .rateLimited(let retryAfter, let times) where await state.fires(index, times: times):
                var response = Self.error(.tooManyRequests, "Rate limit reached for requests. Please try again in \(retryAfter)s.", type: "requests",
                                          code: "rate_limit_exceeded")
                response.headers[.retryAfter] = retryAfter == retryAfter.rounded() ? String(Int(retryAfter)) : String(retryAfter)
                return response
            case .serverError(let times) where await state.fires(1000 + index, times: times):
                return Self.error(.internalServerError, "The server had an error while processing your request.", type: "server_error")
            default:
                continue
            }
        }
        return nil
    }

    struct ConnectionCut: Error {}

    /// Streams a response's events after `after`, each at its time on the run's clock.
    private func streamResponse(id: String, after: Int, faults: [SimulatedFault]) -> Response {
        let state = self.state
        let body = ResponseBody { writer in
            var sent = 0
            var heldFor = 0
            var lastKeepAlive = ContinuousClock.now
            var index = after + 1
            while true {
                guard let response = await state.response(id) else { break }
                let count = response.transcript.events.count
                if index >= count { break }
                if response.cancelled, index > response.cancelledAt ?? -1 {
                    let event = Transcript.json(["type": "response.cancelled", "sequence_number": index, "response": response.responseObject(status: "cancelled")])
                    try await writer.write(ByteBuffer(string: "event: response.cancelled\ndata: \(event)\n\n"))
                    break
                }
                if response.faults.contains(.stuckQueued), index > 0 {
                    try await Task.sleep(for: .milliseconds(250))
                    try await writer.write(ByteBuffer(string: ": still queued\n\n"))
                    continue
                }
                if let held = response.heldBefore, index >= held {
                    // Held by the test: wait (with keep-alives) until released or cancelled.
                    // Keep-alives by the clock, once a second: counted in 10 ms naps they
                    // came every 5 s or later, and a client with a 5 s stall timeout
                    // (the tests') then took a held stream for a dead one and resumed.
                    if heldFor == 0 { await state.noteStreamHeld(id); lastKeepAlive = .now }
                    try await Task.sleep(for: .milliseconds(10))
                    heldFor += 1
                    if ContinuousClock.now - lastKeepAlive >= Self.keepAliveInterval {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        lastKeepAlive = .now
                    }
                    continue
                }
                for fault in faults {
                    if case .cutAfter(let limit) = fault, sent == limit { throw ConnectionCut() }
                    if case .stall(let afterEvents, let seconds) = fault, sent == afterEvents { try await Task.sleep(for: .seconds(clamping: seconds)) }
                }
                let due = response.time(of: index)
                while due - ContinuousClock.now > Self.keepAliveInterval {
                    try await Task.sleep(for: Self.keepAliveInterval)
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                }
                if due > .now { try await Task.sleep(until: due) }
                let type = index == count - 1 && response.terminalStatus != "completed" ? "response.\(response.terminalStatus)" : response.transcript.eventTypes[index]
                try await writer.write(ByteBuffer(string: "event: \(type)\ndata: \(response.event(index))\n\n"))
                sent += 1
                index += 1
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    // MARK: Answers

    static func fastAnswer(id: String, model: String, input: String, purpose: String?) -> [String: Any] {
        let text: String
        switch purpose {
        case "clarification_questions":
            text = ["Who will read this piece, and how much do they already know?",
                    "How long should the finished piece be?",
                    "Which regions or markets should the research cover?",
                    "Are there sources you trust, or want avoided?"].joined(separator: "\n")
        default:
            text = "Research brief. Write a well-sourced content outline for this request, citing each claim: \(input)"
        }
        let part: [String: Any] = ["type": "output_text", "text": text, "annotations": [Any](), "logprobs": [Any]()]
        return ResponseEnvelope(id: id, model: model, createdAt: Int(Date().timeIntervalSince1970), background: false, webSearch: false).object(
            status: "completed",
            output: [["id": "msg_" + id.dropFirst(5), "type": "message", "status": "completed", "role": "assistant", "content": [part]]],
            usage: ["input_tokens": 150 + input.count / 4, "input_tokens_details": ["cached_tokens": 0, "cache_write_tokens": 0],
                    "output_tokens": text.count / 4, "output_tokens_details": ["reasoning_tokens": 0], "total_tokens": 150 + (input.count + text.count) / 4])
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// An error shaped as the provider shapes them.
    static func error(_ status: HTTPResponse.Status, _ message: String, type: String, param: String? = nil, code: String? = nil) -> Response {
        json(status, ["error": ["message": message, "type": type, "param": param as Any? ?? NSNull(), "code": code as Any? ?? NSNull()]])
    }

    static func notFound(_ id: String) -> Response {
        error(.notFound, "No response found with id '\(id)'.", type: "invalid_request_error")
    }
}
