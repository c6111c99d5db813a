import Foundation
import OpenAIResponses
import ProviderHTTP
import SimulatedProvider
import Testing
import TestSupport

@Suite("The simulated provider, driven by the real client over real sockets")
struct SimulatedProviderTests {
    static func start(_ spec: TranscriptSpec = TranscriptSpec(outputLength: 600, pace: .milliseconds(1)),
                      faults: [SimulatedFault] = []) async throws -> (RunningSimulatedProvider, ResponsesClient) {
        let running = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: spec, faults: faults))
        // The stall timeout is a bound against a hung provider, not a timing: these
        // tests read whole streams, and a loaded machine (a build beside the suite)
        // once left a 1 ms-paced stream silent for more than 2 s.
        let client = ResponsesClient(configuration: ResponsesConfiguration(
            baseURL: running.url, apiKey: "sk-sim", stallTimeout: .seconds(30),
            retry: RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50))))
        return (running, client)
    }


    static func text(_ events: [ResponseStreamEvent]) -> String {
        events.compactMap { if case .outputTextDelta(_, _, _, let delta) = $0.kind { delta } else { nil } }.joined()
    }

    static func request(_ session: String) -> CreateResponseRequest {
        .deepResearch(instructions: "Outline tidal power", stream: true, sessionID: session)
    }

    @Test("a streamed run has dense sequence numbers, deltas adding up to the final text, and citations by code point")
    func streamedRun() async throws {
        let (provider, client) = try await Self.start()
        defer { Task { await provider.stop() } }
        let (events, error) = await collectEvents(client.createStream(Self.request("s-1")))
        #expect(error == nil)
        #expect(events.map(\.sequenceNumber) == Array(0..<events.count))
        guard case .lifecycle(let completed) = events.last?.kind, completed.status == .completed else { Issue.record("no completed event"); return }
        let text = Self.text(events)
        #expect(!text.isEmpty && completed.outputText == text)
        #expect(!completed.citations.isEmpty)
        for citation in completed.citations {
            #expect(citation.citedText(in: text) == "([example.org](\(citation.url)))")
        }
        #expect(text.unicodeScalars.count != text.utf8.count) // the text holds ’ – é
        #expect(await provider.state.creates(forSession: "s-1") == 1)
    }

    @Test("the same session gets the same transcript")
    func deterministic() async throws {
        let (provider, client) = try await Self.start()
        defer { Task { await provider.stop() } }
        let first = Self.text(await collectEvents(client.createStream(Self.request("same"))).events)
        let second = Self.text(await collectEvents(client.createStream(Self.request("same"))).events)
        let other = Self.text(await collectEvents(client.createStream(Self.request("other"))).events)
        #expect(first == second)
        #expect(first != other)
    }

    @Test("a stream cut after K events resumes from the last sequence number with nothing lost or doubled")
    func cutAndResume() async throws {
        let (provider, client) = try await Self.start()
        defer { Task { await provider.stop() } }
        let full = await collectEvents(client.createStream(Self.request("ref"))).events
        let (provider2, cutting) = try await Self.start(faults: [.cutAfter(events: 25)])
        defer { Task { await provider2.stop() } }
        let first = await collectEvents(cutting.createStream(Self.request("ref")))
        #expect(first.events.count == 25)
        #expect(first.error != nil)
        guard case .lifecycle(let created) = first.events.first?.kind else { Issue.record("no created event"); return }
        // The resumed connection is cut after 25 more, and so on: keep resuming.
        var all = first.events
        while all.last?.type != "response.completed" {
            let next = await collectEvents(cutting.resume(responseID: created.id, after: all.last!.sequenceNumber))
            #expect(!next.events.isEmpty)
            all += next.events
        }
        #expect(all.map(\.sequenceNumber) == Array(0..<all.count))
        #expect(Self.text(all) == Self.text(full))
        #expect(await provider2.state.creates(forSession: "ref") == 1)
    }

    @Test("rate limits and server errors are retried; only the accepted create counts")
    func retriedCreate() async throws {
        let (provider, client) = try await Self.start(faults: [.rateLimited(retryAfter: 0, times: 2), .serverError(times: 1)])
        defer { Task { await provider.stop() } }
        var request = Self.request("rl")
        request.stream = false
        let response = try await client.create(request)
        #expect(response.status == .queued || response.status == .inProgress || response.status == .completed)
        #expect(await provider.state.creates(forSession: "rl") == 1)
    }

    @Test("retrieve follows the run to completion; cancel stops it and is safe to repeat")
    func retrieveAndCancel() async throws {
        let (provider, client) = try await Self.start(TranscriptSpec(outputLength: 400, pace: .milliseconds(20)))
        defer { Task { await provider.stop() } }
        var request = Self.request("poll")
        request.stream = false
        let created = try await client.create(request)
        #expect(try await client.retrieve(responseID: created.id).status != .completed)
        let finished = try await Deadline.value(of: "the background response to finish", within: .seconds(60), every: .milliseconds(200)) {
            let response = try await client.retrieve(responseID: created.id)
            return response.status.isTerminal ? response : nil
        }
        #expect(finished.status == .completed)
        #expect(!finished.outputText.isEmpty)

        let other = try await client.create(Self.request("cancel").with(stream: false))
        #expect(try await client.cancel(responseID: other.id).status == .cancelled)
        #expect(try await client.cancel(responseID: other.id).status == .cancelled)
        let tail = await collectEvents(client.resume(responseID: other.id, after: 0))
        #expect(tail.events.last?.type == "response.cancelled")
    }

    @Test("failed, incomplete, stuck and expired runs behave as the provider's do")
    func faultyRuns() async throws {
        let (failing, failClient) = try await Self.start(faults: [.fail])
        defer { Task { await failing.stop() } }
        #expect(await collectEvents(failClient.createStream(Self.request("f"))).events.last?.type == "response.failed")

        let (incomplete, incompleteClient) = try await Self.start(faults: [.incomplete])
        defer { Task { await incomplete.stop() } }
        #expect(await collectEvents(incompleteClient.createStream(Self.request("i"))).events.last?.type == "response.incomplete")

        let (stuck, stuckClient) = try await Self.start(faults: [.stuckQueued])
        defer { Task { await stuck.stop() } }
        let queued = try await stuckClient.create(Self.request("q").with(stream: false))
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await stuckClient.retrieve(responseID: queued.id).status == .queued)

        let (expiring, expiringClient) = try await Self.start(faults: [.resumeRefused(afterSeconds: 0)])
        defer { Task { await expiring.stop() } }
        let old = try await expiringClient.create(Self.request("e").with(stream: false))
        let refused = await collectEvents(expiringClient.resume(responseID: old.id, after: 3))
        guard case .http(400, "stream_expired", _, _) = refused.error as? ResponsesError else {
            Issue.record("expected stream_expired, got \(String(describing: refused.error))")
            return
        }
    }

    @Test("a held run, once released, goes on at its pace from the release: no burst to catch up with its first clock")
    func releasedHoldKeepsPace() async throws {
        let pace = Duration.milliseconds(20)
        let (provider, client) = try await Self.start(TranscriptSpec(outputLength: 400, pace: pace), faults: [.holdAt(events: 1)])
        defer { Task { await provider.stop() } }
        let reading = Task { await collectEvents(client.createStream(Self.request("s-hold"))) }
        // At its hold (however long a loaded machine takes to get there), then
        // held well past the time its first 25 events were planned for.
        let deadline = ContinuousClock.now + .seconds(60)
        while await !provider.state.streamsReachedHold(session: "s-hold") {
            guard ContinuousClock.now < deadline else { Issue.record("the stream never reached its hold"); return }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(500))
        let released = ContinuousClock.now
        #expect(await provider.state.release(session: "s-hold") == 1)
        let (events, error) = await reading.value
        #expect(error == nil && events.count > 30)
        // A lower bound only (a slow machine makes events later, never earlier):
        // event i comes at least (i - 1) paces after the release.
        for event in events where event.sequenceNumber >= 2 {
            guard let arrived = event.receivedAt else { Issue.record("no arrival time"); return }
            #expect(arrived - released >= pace * (event.sequenceNumber - 1) * 0.9, "event \(event.sequenceNumber) came in a burst")
        }
    }

    @Test("a total duration sets the pace: the run ends when it says")
    func totalDuration() async throws {
        var spec = TranscriptSpec(outputLength: 300)
        spec.totalDuration = .milliseconds(600)
        let (provider, client) = try await Self.start(spec)
        defer { Task { await provider.stop() } }
        let started = ContinuousClock.now
        let events = await collectEvents(client.createStream(Self.request("slow"))).events
        let elapsed = ContinuousClock.now - started
        #expect(events.last?.type == "response.completed")
        #expect(elapsed >= .milliseconds(550))
    }

    @Test("bad requests get provider-shaped errors")
    func badRequests() async throws {
        let (provider, _) = try await Self.start()
        defer { Task { await provider.stop() } }
        let http = CurlHTTPClient()
        let missing = try await http.send(HTTPRequest(method: "POST", url: provider.url + "/v1/responses", body: Array(#"{"input":"x"}"#.utf8)))
        #expect(missing.head.status == 400)
        #expect(String(decoding: missing.body, as: UTF8.self).contains(#""param":"model""#))
        let garbage = try await http.send(HTTPRequest(method: "POST", url: provider.url + "/v1/responses", body: Array("{not json".utf8)))
        #expect(garbage.head.status == 400)
        let unknown = try await http.send(HTTPRequest(url: provider.url + "/v1/responses/resp_nope"))
        #expect(unknown.head.status == 404)
        #expect(String(decoding: unknown.body, as: UTF8.self).contains("No response found"))
    }

    @Test("fault specifications parse, and a bad one says what is allowed")
    func faultParsing() throws {
        #expect(try SimulatedFault.parse("429:2:3, cut-after:50,stall:10:1.5,fail") == [
            .rateLimited(retryAfter: 2, times: 3), .cutAfter(events: 50), .stall(afterEvents: 10, seconds: 1.5), .fail,
        ])
        #expect(throws: SimulatedFaultError.self) { try SimulatedFault.parse("explode") }
    }
}

extension CreateResponseRequest {
    func with(stream: Bool) -> CreateResponseRequest {
        var copy = self
        copy.stream = stream
        return copy
    }
}
