import EventLog
import Foundation
import OpenAIResponses
import OutlineProjections
import PostgresClient
import SessionRunner
import SimulatedProvider
import Testing
import TestSupport

/// No provider run is left billing: every path that ends a session while its
/// response may still run cancels it upstream, and a path that cannot (the
/// provider does not answer the cancel) leaves the session active for an
/// adopter instead of ending it. The simulated provider's cancel counts and its
/// view of which runs still go on prove it. Runs hold before event 60, so they
/// are still going when the runner gives up, however loaded the machine.
@Suite("Upstream billing: a failed session's provider run is cancelled or left to an adopter")
struct UpstreamBillingTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var faults: [SimulatedFault]
        var description: String { name }
    }

    static let failing: [Case] = [
        Case(name: "resume refused with 403 after a cut", faults: [.holdAt(events: 60), .cutAfter(events: 30), .refuse(operation: "resume", status: 403)]),
        Case(name: "retrieve refused with 403 while polling", faults: [.holdAt(events: 60), .cutAfter(events: 30), .resumeRefused(afterSeconds: 0),
                                                                        .refuse(operation: "retrieve", status: 403)]),
    ]

    static func runner(_ pool: PostgresPool, provider: RunningSimulatedProvider) -> (EventStore, OutlineSessions, SessionRunner) {
        let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
        let client = ResponsesClient(configuration: ResponsesConfiguration(
            baseURL: provider.url, stallTimeout: .seconds(5),
            retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(10), maxDelay: .milliseconds(20))))
        let runner = SessionRunner(store: store, writer: GroupCommitWriter(store: store), client: client,
                                   settings: .init(pollInterval: .milliseconds(50), resumeBackoff: .milliseconds(10)), logger: TestDatabase.quietLogger)
        return (store, OutlineSessions(store: store), runner)
    }

    static func startResearching(_ sessions: OutlineSessions, _ store: EventStore, workflow: String) async throws -> UUID {
        let session = try await sessions.start(SessionStarted(workflowId: workflow, prompt: "Tides", mode: .streaming, requestedBy: "u", skipClarification: true)).sessionID
        try await store.append(StreamAppend(sessionID: session, expectedSequence: 1, events: [
            NewEvent(.researchInstructionsWritten(ResearchInstructionsWritten(instructions: "Research tides"))),
        ]))
        return session
    }

    @Test("a provider error after the response exists cancels it upstream; the failure says nothing runs any more", arguments: failing)
    func failureCancelsUpstream(_ scenario: Case) async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(
            spec: TranscriptSpec(outputLength: 1500, deltaSize: 10, pace: .milliseconds(1)), faults: scenario.faults))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let (store, sessions, runner) = Self.runner(pool, provider: provider)
            let session = try await Self.startResearching(sessions, store, workflow: "wf-bill")
            try await runner.research(session: session, instructions: "Research tides", mode: .streaming)

            let row = try #require(try await sessions.row(session))
            #expect(row.status == .failed)
            #expect(!row.isActive)
            let log = try await store.read(session: session, limit: 100_000)
            let failure = try #require(log.compactMap { if case .failed(let f) = $0.event { f } else { nil } }.last)
            #expect(failure.providerSettled == true)
            let responseID = try #require(row.backgroundResponseId)
            #expect(await provider.state.cancelRequests(forResponse: responseID) >= 1)
            #expect(await provider.state.isRunning(responseID: responseID) == false, "the run still bills at the provider")
            #expect(await provider.state.researchCreates(forSession: session.uuidString.lowercased()) == 1)
        }
    }

    @Test("when the cancel itself cannot reach the provider, the session stays active for an adopter instead of ending with the run billing")
    func unreachableCancelLeavesItToAnAdopter() async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(
            spec: TranscriptSpec(outputLength: 1500, deltaSize: 10, pace: .milliseconds(1)),
            faults: [.holdAt(events: 60), .cutAfter(events: 30), .refuse(operation: "resume", status: 403), .refuse(operation: "cancel", status: 503)]))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let (store, sessions, runner) = Self.runner(pool, provider: provider)
            let session = try await Self.startResearching(sessions, store, workflow: "wf-bill-adopt")
            await #expect(throws: (any Error).self) {
                try await runner.research(session: session, instructions: "Research tides", mode: .streaming)
            }
            let row = try #require(try await sessions.row(session))
            #expect(row.isActive, "a session whose run could not be cancelled must stay with an adopter")
            #expect(row.status == .researching)
            let responseID = try #require(row.backgroundResponseId)
            #expect(await provider.state.cancelRequests(forResponse: responseID) >= 1)
            #expect(await provider.state.isRunning(responseID: responseID), "the run goes on for the adopter to continue")
        }
    }

    @Test("the runner's catch-all for a lost database during research cancels upstream before ending")
    func endAfterFailureCancels() async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(
            spec: TranscriptSpec(outputLength: 1500, deltaSize: 10, pace: .milliseconds(1)), faults: [.holdAt(events: 60)]))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            let (store, sessions, runner) = Self.runner(pool, provider: provider)
            let session = try await Self.startResearching(sessions, store, workflow: "wf-bill-db")
            let running = Task { try await runner.research(session: session, instructions: "Research tides", mode: .streaming) }
            try await Deadline.wait(for: "the response id in the read model", within: .seconds(60)) {
                try await sessions.row(session)?.backgroundResponseId != nil
            }
            running.cancel()
            _ = try? await running.value
            // What the launcher does when research threw a database error: end it, cancelling first.
            struct DatabaseLost: Error {}
            #expect(try await runner.endAfterFailure(session: session, code: "internal_error", error: DatabaseLost()))
            let row = try #require(try await sessions.row(session))
            #expect(row.status == .failed)
            let responseID = try #require(row.backgroundResponseId)
            #expect(await provider.state.cancelRequests(forResponse: responseID) == 1)
            #expect(await provider.state.isRunning(responseID: responseID) == false)
        }
    }
}
