import Foundation
import OpenAIResponses
import Synchronization
import Testing
import TestSupport

@Suite("Responses API client over libcurl, against a loopback server speaking the recorded wire format")
struct ResponsesClientTests {
    static func client(_ server: LoopbackServer, key: String? = "sk-test-secret") -> ResponsesClient {
        ResponsesClient(configuration: ResponsesConfiguration(
            baseURL: server.url, apiKey: key, stallTimeout: .seconds(2),
            retry: RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(20), maxDelay: .milliseconds(100))))
    }

    static func sseResponse(_ payloads: [String], cutAfter: Int? = nil) -> [LoopbackServer.Step] {
        var steps: [LoopbackServer.Step] = [.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")]
        for (index, payload) in payloads.enumerated() {
            if let cutAfter, index == cutAfter { return steps + [.pause(milliseconds: 20), .cut] }
            let frame = "event: \(RecordedStreams.type(of: payload))\ndata: \(payload)\n\n"
            steps.append(.write(String(frame.utf8.count, radix: 16) + "\r\n" + frame + "\r\n"))
        }
        return steps + [.write("0\r\n\r\n")]
    }

    static func json(status: Int, _ body: String, headers: [String] = []) -> [LoopbackServer.Step] {
        [.write("HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n" + body)]
    }


    @Test("a streamed create delivers every recorded event in order, with the request the API expects")
    func streamedCreate() async throws {
        let payloads = try RecordedStreams.payloads("openai-web-search-tool.1")
        let server = try LoopbackServer { _, _ in Self.sseResponse(payloads) }
        defer { server.stop() }
        let result = await collectEvents(Self.client(server).createStream(.deepResearch(instructions: "Research tides", stream: true, sessionID: "s-1")))
        #expect(result.error == nil)
        #expect(result.events == (try payloads.map(ResponseStreamEvent.decode)))
        let request = try #require(server.received.first)
        #expect(request.head.hasPrefix("POST /v1/responses "))
        #expect(request.head.contains("Authorization: Bearer sk-test-secret"))
        let body = try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any]
        #expect(body?["background"] as? Bool == true)
        #expect(body?["stream"] as? Bool == true)
        #expect(body?["model"] as? String == "o3-deep-research")
    }

    @Test("429 with Retry-After and 503 are retried for create; the third attempt succeeds, one response exists")
    func createRetries() async throws {
        let calls = Atomic<Int>(0)
        let server = try LoopbackServer { _, _ in
            switch calls.add(1, ordering: .relaxed).newValue {
            case 1: Self.json(status: 429, #"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#, headers: ["Retry-After: 0.05"])
            case 2: Self.json(status: 503, #"{"error":{"message":"overloaded"}}"#)
            default: Self.json(status: 200, #"{"id":"resp_1","status":"queued","output":[]}"#)
            }
        }
        defer { server.stop() }
        let response = try await Self.client(server).create(.deepResearch(instructions: "x", stream: false, sessionID: "s"))
        #expect(response.id == "resp_1" && response.status == .queued)
        #expect(server.received.count == 3)
    }

    @Test("a 400 is not retried and names the provider's error")
    func badRequestNotRetried() async throws {
        let server = try LoopbackServer { _, _ in Self.json(status: 400, #"{"error":{"message":"Unknown model","code":"model_not_found"}}"#) }
        defer { server.stop() }
        await #expect(throws: ResponsesError.http(status: 400, code: "model_not_found", message: "Unknown model", retryAfterSeconds: nil)) {
            try await Self.client(server).create(.deepResearch(instructions: "x", stream: false, sessionID: "s"))
        }
        #expect(server.received.count == 1)
    }

    @Test("a stream cut after events ends with a transport error, keeps the events, and is not re-created")
    func cutStream() async throws {
        let payloads = try RecordedStreams.payloads("openai-web-search-tool.1")
        let server = try LoopbackServer { _, _ in Self.sseResponse(payloads, cutAfter: 40) }
        defer { server.stop() }
        let result = await collectEvents(Self.client(server).createStream(.deepResearch(instructions: "x", stream: true, sessionID: "s")))
        #expect(result.events.map(\.sequenceNumber) == Array(0..<40))
        guard case .transport = result.error as? ResponsesError else { Issue.record("expected a transport error, got \(String(describing: result.error))"); return }
        #expect(server.received.count == 1) // never charged twice
    }

    @Test("resume asks for the events after a sequence number, and retrieve and cancel retry on 5xx")
    func resumeRetrieveCancel() async throws {
        let payloads = try RecordedStreams.payloads("openai-web-search-tool.1")
        let calls = Atomic<Int>(0)
        let server = try LoopbackServer { head, _ in
            if head.hasPrefix("GET /v1/responses/resp_9?stream=true&starting_after=99 ") { return Self.sseResponse(Array(payloads[100...])) }
            if calls.add(1, ordering: .relaxed).newValue == 1 { return Self.json(status: 502, "bad gateway") }
            if head.hasPrefix("POST /v1/responses/resp_9/cancel ") { return Self.json(status: 200, #"{"id":"resp_9","status":"cancelled"}"#) }
            return Self.json(status: 200, #"{"id":"resp_9","status":"in_progress","output":[]}"#)
        }
        defer { server.stop() }
        let client = Self.client(server)
        let resumed = await collectEvents(client.resume(responseID: "resp_9", after: 99))
        #expect(resumed.error == nil)
        #expect(resumed.events.first?.sequenceNumber == 100)
        #expect(resumed.events.last?.type == "response.completed")
        #expect(try await client.retrieve(responseID: "resp_9").status == .inProgress)
        #expect(try await client.cancel(responseID: "resp_9").status == .cancelled)
        #expect(try await client.cancel(responseID: "resp_9").status == .cancelled) // safe to repeat
    }

    @Test("a stalled stream ends with .stalled so the runner can resume it")
    func stalledStream() async throws {
        let payloads = try RecordedStreams.payloads("openai-web-search-tool.1")
        let server = try LoopbackServer { _, _ in Array(Self.sseResponse(payloads).prefix(6)) + [.pause(milliseconds: 5000)] }
        defer { server.stop() }
        let result = await collectEvents(Self.client(server).resume(responseID: "resp_1", after: 0))
        #expect(result.events.count == 5)
        #expect(result.error as? ResponsesError == .stalled(seconds: 2))
    }

    @Test("the API key never appears in the configuration's description")
    func keyHidden() {
        let configuration = ResponsesConfiguration(baseURL: "https://api.openai.com/", apiKey: "sk-live-very-secret")
        #expect(!configuration.description.contains("secret"))
        #expect(configuration.baseURL == "https://api.openai.com")
    }

    @Test("backoff grows exponentially within its cap, with jitter, and honours Retry-After")
    func backoff() {
        let policy = RetryPolicy(maxAttempts: 10, initialDelay: .milliseconds(100), maxDelay: .seconds(2), jitter: 0.2)
        #expect((.milliseconds(80)...(.milliseconds(120))).contains(policy.delay(afterAttempt: 1)))
        #expect((.milliseconds(320)...(.milliseconds(480))).contains(policy.delay(afterAttempt: 3)))
        #expect(policy.delay(afterAttempt: 20) <= .milliseconds(2400))
        #expect(policy.delay(afterAttempt: 1, retryAfterSeconds: 7) == .seconds(7))
    }
}
