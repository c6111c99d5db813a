import EventLog
import Foundation
import OpenAIResponses
import OutlineProjections
import PostgresClient
import SessionRunner
import SimulatedProvider
import Testing
import TestSupport

@Suite("Leases and adoption: a runner that dies mid-stream is replaced, nothing lost, nothing charged twice")
struct SessionAdoptionTests {
    /// A streaming session with its research instructions written: what a runner starts from.
    static func sessionReadyForResearch(_ pool: PostgresPool, workflow: String) async throws -> (EventStore, OutlineSessions, AppendResult) {
        let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
        let sessions = OutlineSessions(store: store)
        let started = try await sessions.start(SessionStarted(workflowId: workflow, prompt: "Tides", mode: .streaming, requestedBy: "u", skipClarification: true))
        try await store.append(StreamAppend(sessionID: started.sessionID, expectedSequence: 1, events: [
            NewEvent(.researchInstructionsWritten(ResearchInstructionsWritten(instructions: "Research tides"))),
        ]))
        return (store, sessions, started)
    }

    @Test("a runner killed mid-stream is adopted by another; the log has every provider event once and one create call")
    func adoptAfterCrash() async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(
            spec: TranscriptSpec(webSearches: 2, reasoningSummaries: 2, outputLength: 2500, deltaSize: 8, pace: .milliseconds(15)),
            // The run stops at event 80 until the test lets it go: the kill lands mid-stream
            // however loaded the machine, not in a race with the provider's clock.
            faults: [.holdAt(events: 80)]))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let (store, sessions, started) = try await Self.sessionReadyForResearch(pool, workflow: "wf-adopt")
            let client = ResponsesClient(configuration: ResponsesConfiguration(baseURL: provider.url, stallTimeout: .seconds(2)))
            func supervisor(_ owner: String) -> SessionSupervisor {
                SessionSupervisor(runner: SessionRunner(store: store, writer: GroupCommitWriter(store: store), client: client,
                                                        settings: .init(resumeBackoff: .milliseconds(20)), logger: TestDatabase.quietLogger),
                                  leases: SessionLeases(pool: pool, owner: owner, timeToLive: .seconds(6)),
                                  heartbeat: .milliseconds(500), logger: TestDatabase.quietLogger)
            }
            let first = supervisor("runner-a")
            let second = supervisor("runner-b")
            let crashed = Task { try await first.run(session: started.sessionID, instructions: "Research tides", mode: .streaming) }
            // Let it stream for a while, then kill it without any cleanup.
            try await Deadline.wait(for: "200 characters of streamed text", within: .seconds(60)) {
                (try await sessions.row(started.sessionID)?.outputText.count ?? 0) >= 200
            }
            let lastHeartbeat = ContinuousClock.now
            crashed.cancel()
            _ = try? await crashed.value
            // The crash happened mid-stream: the provider holds the run at event 80.
            try #require(try await sessions.row(started.sessionID)?.isActive == true)
            await provider.state.releaseAll()

            // Its lease (6 s) still holds the session, as long as it has not had time
            // to lapse: on a machine so loaded that 3 s passed, that is not the point here
            // (the lease test proves exclusivity); the adoption below is.
            let outcome = try await second.run(session: started.sessionID, instructions: "x", mode: .streaming)
            if ContinuousClock.now - lastHeartbeat < .seconds(3) {
                #expect(outcome == .heldElsewhere)
            }
            if outcome != .heldElsewhere {
                // The second runner took over and finished it itself.
                #expect(try await sessions.row(started.sessionID)?.isActive == false)
            }
            // The second runner's periodic adoption picks it up once the lease expires.
            let adoption = Task { await second.runAdoption(every: .milliseconds(200)) }
            try await Deadline.wait(for: "the adopted session to end", within: .seconds(120), every: .milliseconds(50)) {
                try await sessions.row(started.sessionID)?.isActive == false
            }
            adoption.cancel()
            await adoption.value

            let row = try #require(try await sessions.row(started.sessionID))
            #expect(row.status == .completed)
            let log = try await store.read(session: started.sessionID, limit: 100_000)
            let responseID = try #require(log.compactMap { if case .providerResponseAccepted(let a) = $0.event { a.responseId } else { nil } }.first)
            let transcript = try #require(await provider.state.transcript(ofResponse: responseID))
            #expect(row.finalOutline == transcript.text)
            let deltas = log.compactMap { if case .outputTextDelta(let d) = $0.event { d.delta } else { nil } }.joined()
            #expect(deltas == transcript.text)
            let providerSequences = log.compactMap(\.providerSequence)
            #expect(Set(providerSequences).count == providerSequences.count)
            #expect(providerSequences == providerSequences.sorted())
            #expect(log.contains { if case .resumed(let resumed) = $0.event { resumed.reason.contains("previous runner") } else { false } })
            #expect(await provider.state.creates(forSession: started.sessionID.uuidString.lowercased()) == 1)
            // Done: the lease is gone and nothing is left to adopt.
            #expect(try await SessionLeases(pool: pool, owner: "x").adoptable().isEmpty)
        }
    }

    @Test("a stalled runner that finds another writer at the head stops: it neither ends the session nor cancels the response the adopter streams")
    func supersededRunnerLeavesTheSessionToTheAdopter() async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(
            spec: TranscriptSpec(webSearches: 1, reasoningSummaries: 1, outputLength: 1200, deltaSize: 8, pace: .milliseconds(5)),
            faults: [.holdAt(events: 60)]))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let (store, sessions, started) = try await Self.sessionReadyForResearch(pool, workflow: "wf-superseded")
            let client = ResponsesClient(configuration: ResponsesConfiguration(baseURL: provider.url, stallTimeout: .seconds(30)))
            func runner() -> SessionRunner {
                SessionRunner(store: store, writer: GroupCommitWriter(store: store), client: client,
                              settings: .init(resumeBackoff: .milliseconds(20)), logger: TestDatabase.quietLogger)
            }
            let stalled = Task { try await runner().research(session: started.sessionID, instructions: "Research tides", mode: .streaming) }
            // The provider holds the run at event 60: the stalled runner has stored the
            // response id and waits on its stream, as one whose lease lapsed in a stall.
            let responseID = try await Deadline.value(of: "the stored response id", within: .seconds(60)) {
                try await store.read(session: started.sessionID, limit: 1000).lazy
                    .compactMap { if case .providerResponseAccepted(let a) = $0.event { a.responseId } else { nil } }.first
            }
            try await Deadline.wait(for: "the stalled runner to reach the provider's hold", within: .seconds(60)) {
                await provider.state.streamReachedHold(responseID: responseID)
            }
            // An adopter takes over and writes first, at the head wherever it is (the stalled
            // runner may still be committing what it received before the hold).
            _ = try await store.appendAtHeadUnlessEnded(session: started.sessionID, events: [
                NewEvent(.resumed(SessionResumed(fromProviderSequence: nil, reason: "continued after the previous runner stopped"))),
            ])
            await provider.state.release(responseID: responseID)
            let result = await outcome { try await stalled.value }
            if case .success = result { Issue.record("the superseded runner must stop with the conflict, not finish") }
            #expect(await provider.state.cancelRequests(forResponse: responseID) == 0)
            #expect(try await sessions.row(started.sessionID)?.isActive == true)

            // The adopter continues the same response to its end.
            try await runner().research(session: started.sessionID, instructions: "Research tides", mode: .streaming)
            let row = try #require(try await sessions.row(started.sessionID))
            #expect(row.status == .completed)
            let transcript = try #require(await provider.state.transcript(ofResponse: responseID))
            #expect(row.finalOutline == transcript.text)
            #expect(await provider.state.cancelRequests(forResponse: responseID) == 0)
            #expect(await provider.state.creates(forSession: started.sessionID.uuidString.lowercased()) == 1)
        }
    }

    @Test("a lease is exclusive until it expires, renewable only by its owner")
    func leaseRules() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let session = UUID()
            // Long enough that a loaded machine cannot let it expire between two steps.
            let a = SessionLeases(pool: pool, owner: "a", timeToLive: .seconds(3))
            let b = SessionLeases(pool: pool, owner: "b", timeToLive: .seconds(3))
            #expect(try await a.acquire(session))
            #expect(try await !b.acquire(session))
            #expect(try await a.renew(session))
            #expect(try await !b.renew(session))
            // b gets it once a's lease lapses (3 s after the renewal).
            try await Deadline.wait(for: "a's lease to lapse so that b acquires it", within: .seconds(30), every: .milliseconds(100)) { try await b.acquire(session) }
            #expect(try await !a.renew(session)) // a lost it
            try await b.release(session)
            #expect(try await a.acquire(session))
        }
    }
}
