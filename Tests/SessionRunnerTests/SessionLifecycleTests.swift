import EventLog
import Foundation
import OpenAIResponses
import OutlineProjections
import PostgresClient
@testable import SessionRunner
import SimulatedProvider
import Testing
import TestSupport

@Suite("A session's whole life: clarification, instructions, research, cancel")
struct SessionLifecycleTests {
    static func setUp(_ pool: PostgresPool, provider: RunningSimulatedProvider) -> (EventStore, OutlineSessions, SessionRunner) {
        let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
        let client = ResponsesClient(configuration: ResponsesConfiguration(baseURL: provider.url, stallTimeout: .seconds(2)))
        let runner = SessionRunner(store: store, writer: GroupCommitWriter(store: store), client: client,
                                   settings: .init(pollInterval: .milliseconds(50), resumeBackoff: .milliseconds(20)), logger: TestDatabase.quietLogger)
        return (store, OutlineSessions(store: store), runner)
    }

    @Test("prompt → questions → answers → instructions → research → final outline, as the read model shows it")
    func fullSession() async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(outputLength: 800, pace: .milliseconds(1))))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let (_, sessions, runner) = Self.setUp(pool, provider: provider)
            let prompt = "An article on tidal power for engineers"
            let session = try await sessions.start(SessionStarted(workflowId: "wf-life", prompt: prompt, mode: .streaming, requestedBy: "u")).sessionID
            let questions = try await runner.requestClarification(session: session, prompt: prompt)
            #expect((3...6).contains(questions.count))
            #expect(try await sessions.row(session)?.status == .awaitingClarification)
            let answers = questions.map { "Answer to: \($0)" }
            let instructions = try await runner.answerClarification(session: session, prompt: prompt, questions: questions, answers: answers)
            #expect(instructions.contains(prompt))
            let clarified = try #require(try await sessions.row(session))
            #expect(clarified.clarificationQuestions == questions)
            #expect(clarified.clarificationAnswers == answers)
            #expect(clarified.researchInstructions == instructions)
            try await runner.research(session: session, instructions: instructions, mode: .streaming)
            let done = try #require(try await sessions.row(session))
            #expect(done.status == .completed)
            #expect(done.progressPhase == .done)
            #expect(!(done.finalOutline ?? "").isEmpty)
            #expect(done.webSearchQueries.count == 4)
            #expect(!done.reasoningSummary.isEmpty)
        }
    }

    @Test("cancel mid-run records who cancelled, cancels at the provider, and stops the runner quietly")
    func cancelMidRun() async throws {
        // The run holds before its 40th event until released: the cancel always
        // reaches a run that is still going, however loaded the machine.
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(outputLength: 4000, pace: .milliseconds(2)),
                                                                                        faults: [.holdAt(events: 40)]))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let (store, sessions, runner) = Self.setUp(pool, provider: provider)
            let session = try await sessions.start(SessionStarted(workflowId: "wf-cancel", prompt: "p", mode: .streaming, requestedBy: "u", skipClarification: true)).sessionID
            let running = Task { try await runner.research(session: session, instructions: "Research", mode: .streaming) }
            // Cancel once the run is at the provider (its id in the read model).
            try await Deadline.wait(for: "the response id in the read model", within: .seconds(60)) {
                try await sessions.row(session)?.backgroundResponseId != nil
            }
            try await runner.cancel(session: session, by: "writer-7", reason: "wrong topic")
            try await running.value // stops without an error
            let row = try #require(try await sessions.row(session))
            #expect(row.status == .cancelled)
            #expect(!row.isActive)
            let log = try await store.read(session: session, limit: 100_000)
            let cancels = log.compactMap { if case .cancelled(let c) = $0.event { c } else { nil } }
            #expect(cancels.map(\.cancelledBy) == ["writer-7"] && cancels.map(\.reason) == ["wrong topic"])
            // The provider reports no usage for a run cut short: what it had cost is estimated from the log.
            let cost = try #require(cancels.first?.cost)
            #expect(cost.estimated && cost.microdollars > 0 && row.costMicrodollars >= cost.microdollars)
            #expect(log.last?.event.isTerminal == true)
            let responseID = try #require(row.backgroundResponseId)
            let client = ResponsesClient(configuration: ResponsesConfiguration(baseURL: provider.url))
            #expect(try await client.retrieve(responseID: responseID).status == .cancelled)
            // Cancelling again changes nothing.
            try await runner.cancel(session: session, by: "writer-7")
            #expect(try await store.read(session: session, limit: 100_000).count == log.count)
        }
    }

    @Test("questions are read one per line, list markers removed, six at most")
    func questionParsing() {
        let text = "1. Who reads it?\n- How long?\n\n* Which regions?\n4) Sources?\n5. A?\n6. B?\n7. C?"
        #expect(SessionRunner.questions(from: text) == ["Who reads it?", "How long?", "Which regions?", "Sources?", "A?", "B?"])
    }
}
