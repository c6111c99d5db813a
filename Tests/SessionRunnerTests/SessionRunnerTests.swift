import EventLog
import Foundation
import OpenAIResponses
import OutlineProjections
import PostgresClient
import SessionRunner
import SimulatedProvider
import Testing
import TestSupport

@Suite("Session runner end to end: simulated provider over real sockets, real PostgreSQL")
struct SessionRunnerTests {
    struct Scenario: Sendable, CustomStringConvertible {
        var name: String
        var faults: [SimulatedFault]
        var mode: SessionMode = .streaming
        var description: String { name }
    }

    static let scenarios: [Scenario] = [
        Scenario(name: "no fault", faults: []),
        Scenario(name: "connection cut every 30 events", faults: [.cutAfter(events: 30)]),
        Scenario(name: "stall after 20 events", faults: [.stall(afterEvents: 20, seconds: 3)]),
        Scenario(name: "resume refused: polling and reconciliation", faults: [.cutAfter(events: 40), .resumeRefused(afterSeconds: 0)]),
        Scenario(name: "rate limited create", faults: [.rateLimited(retryAfter: 0, times: 2)]),
        Scenario(name: "provider fails the run", faults: [.fail]),
        Scenario(name: "provider stops the run incomplete", faults: [.incomplete]),
        Scenario(name: "server errors on create", faults: [.serverError(times: 2)]),
        Scenario(name: "V2 polling", faults: [], mode: .polling),
    ]

    @Test("the final outline in outline_sessions equals the provider's transcript byte for byte, charged once", arguments: scenarios)
    func endToEnd(scenario: Scenario) async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(
            spec: TranscriptSpec(webSearches: 3, reasoningSummaries: 2, outputLength: 1500, deltaSize: 10, pace: .milliseconds(2)),
            faults: scenario.faults))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            let sessions = OutlineSessions(store: store)
            let started = try await sessions.start(SessionStarted(workflowId: "wf-run", prompt: "Tidal power", mode: scenario.mode, requestedBy: "u", skipClarification: true))
            try await store.append(StreamAppend(sessionID: started.sessionID, expectedSequence: 1, events: [
                NewEvent(.researchInstructionsWritten(ResearchInstructionsWritten(instructions: "Research tidal power"))),
            ]))
            let client = ResponsesClient(configuration: ResponsesConfiguration(
                baseURL: provider.url, apiKey: "sk-sim", stallTimeout: .seconds(1),
                retry: RetryPolicy(maxAttempts: 5, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50))))
            let runner = SessionRunner(store: store, writer: GroupCommitWriter(store: store), client: client,
                                       settings: .init(pollInterval: .milliseconds(100), resumeBackoff: .milliseconds(20)),
                                       logger: TestDatabase.quietLogger)
            try await runner.research(session: started.sessionID, instructions: "Research tidal power", mode: scenario.mode)

            let row = try #require(try await sessions.row(started.sessionID))
            let log = try await store.read(session: started.sessionID, limit: 100_000)
            let responseID = try #require(log.compactMap { if case .providerResponseAccepted(let a) = $0.event { a.responseId } else { nil } }.first)
            let transcript = try #require(await provider.state.transcript(ofResponse: responseID))
            #expect(await provider.state.creates(forSession: started.sessionID.uuidString.lowercased()) == 1)
            let providerSequences = log.compactMap(\.providerSequence)
            #expect(providerSequences == providerSequences.sorted() && Set(providerSequences).count == providerSequences.count)
            #expect(log.map(\.sequence) == Array(1...Int32(log.count)))
            // The terminal event carries what the run cost, and the read model shows it.
            let cost = try #require(log.last?.event.cost, "the terminal event is priced")
            #expect(row.costMicrodollars == cost.microdollars && cost.microdollars > 0)
            #expect(row.cost?.models == [cost.model] && row.cost?.webSearchCalls == cost.webSearchCalls)
            if scenario.faults.contains(.fail) || scenario.faults.contains(.incomplete) {
                #expect(cost.estimated, "the provider reports no usage for a failed run: estimated from the log")
            } else {
                // The simulated provider reports usage in the real API's shape; priced as the table says.
                let usage = ResponseUsage(inputTokens: cost.inputTokens, cachedInputTokens: cost.cachedInputTokens, outputTokens: cost.outputTokens,
                                          reasoningTokens: cost.reasoningTokens)
                #expect(!cost.estimated && cost.webSearchCalls == 3 && cost.cachedInputTokens > 0 && cost.reasoningTokens > 0)
                #expect(cost == PriceTable.defaults.cost(model: "o3-deep-research", usage: usage, webSearchCalls: 3))
            }
            if scenario.faults.contains(.fail) || scenario.faults.contains(.incomplete) {
                #expect(row.status == .failed)
                #expect(row.errorMessage != nil)
                return
            }
            #expect(row.status == .completed)
            #expect(row.finalOutline == transcript.text)
            #expect(row.outputText == transcript.text)
            #expect(row.citations?.map(\.url) == transcript.citationURLs)
            // The deltas in the log add up to the outline too (reconciled when the stream could not finish).
            let deltas = log.compactMap { if case .outputTextDelta(let d) = $0.event { d.delta } else { nil } }.joined()
            #expect(deltas == transcript.text)
            if scenario.mode == .polling {
                #expect(row.pollingAttempts > 0)
                #expect(row.mode == .polling)
            } else {
                #expect(row.webSearchesDone == 3)
            }
        }
    }
}

@Suite("The runner against a stream recorded from the real API, replayed by the simulated provider")
struct RecordedReplayTests {
    @Test("the recorded web-search stream, cut twice, ends in the outline the real provider wrote", arguments: [[SimulatedFault](), [.cutAfter(events: 60)]])
    func replay(faults: [SimulatedFault]) async throws {
        var spec = TranscriptSpec(pace: .milliseconds(1))
        spec.recorded = try RecordedStreams.payloads("openai-web-search-tool.1")
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: spec, faults: faults))
        defer { Task { await provider.stop() } }
        let recordedFinal = try #require(try RecordedStreams.payloads("openai-web-search-tool.1").last)
        let expected = try JSONDecoder().decode(Wrapper.self, from: Data(recordedFinal.utf8)).response
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            let sessions = OutlineSessions(store: store)
            let session = try await sessions.start(SessionStarted(workflowId: "wf-replay", prompt: "p", mode: .streaming, requestedBy: "u", skipClarification: true)).sessionID
            let runner = SessionRunner(store: store, writer: GroupCommitWriter(store: store),
                                       client: ResponsesClient(configuration: ResponsesConfiguration(baseURL: provider.url, stallTimeout: .seconds(2))),
                                       settings: .init(resumeBackoff: .milliseconds(10)), logger: TestDatabase.quietLogger)
            try await runner.research(session: session, instructions: "i", mode: .streaming)
            let row = try #require(try await sessions.row(session))
            #expect(row.status == .completed)
            #expect(row.finalOutline == expected.outputText)
            #expect(row.citations?.count == 12)
            #expect(row.webSearchesDone == 6)
            #expect(row.webSearchQueries.count == 2)
            #expect(await provider.state.creates(forSession: session.uuidString.lowercased()) == 1)
        }
    }

    struct Wrapper: Decodable { var response: ResponseObject }
}

@Suite("A response stuck in the provider's queue")
struct StuckQueueTests {
    @Test("the runner stops waiting on the stream, polls, then cancels and fails the session clearly; charged once")
    func stuckQueued() async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(pace: .milliseconds(1)), faults: [.stuckQueued]))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            let sessions = OutlineSessions(store: store)
            let session = try await sessions.start(SessionStarted(workflowId: "wf-stuck", prompt: "p", mode: .streaming, requestedBy: "u", skipClarification: true)).sessionID
            let client = ResponsesClient(configuration: ResponsesConfiguration(baseURL: provider.url, stallTimeout: .seconds(2), eventStallTimeout: .milliseconds(400)))
            let runner = SessionRunner(store: store, writer: GroupCommitWriter(store: store), client: client,
                                       settings: .init(pollInterval: .milliseconds(100), maxResumesWithoutProgress: 2, resumeBackoff: .milliseconds(10),
                                                       maxQueuedTime: .milliseconds(500)),
                                       logger: TestDatabase.quietLogger)
            try await runner.research(session: session, instructions: "i", mode: .streaming)
            let row = try #require(try await sessions.row(session))
            #expect(row.status == .failed)
            #expect(row.errorMessage?.contains("queued") == true)
            let responseID = try #require(row.backgroundResponseId)
            #expect(try await client.retrieve(responseID: responseID).status == .cancelled)
            #expect(await provider.state.creates(forSession: session.uuidString.lowercased()) == 1)
        }
    }
}
