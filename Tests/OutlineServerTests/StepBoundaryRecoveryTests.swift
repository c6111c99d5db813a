import EventLog
import Foundation
import OutlineProjections
import OutlineServer
import Testing
import TestSupport

/// No workflow is blocked forever: an instance that dies at any boundary
/// between a session's steps leaves a log that the next instance continues,
/// so every session ends (or waits for its writer's answers) within the
/// adoption interval. Each log below is exactly what a kill at that boundary
/// leaves: the events so far, no live lease.
@Suite("Killed at every step boundary: every session ends or waits for its writer")
struct StepBoundaryRecoveryTests {
    enum Boundary: String, CaseIterable, Sendable {
        case afterStart = "after session.started (clarification asked for)"
        case afterStartSkipping = "after session.started (clarification skipped)"
        case afterAnswers = "after clarification.answered"
        case afterInstructions = "after research.instructions_written"
        case afterRequestStarted = "after provider.request_started"
    }

    @Test("the next instance continues each one from its log")
    func everyBoundaryRecovers() async throws {
        let old = Date().addingTimeInterval(-120)   // the dead instance wrote these a while ago
        var sessions: [Boundary: UUID] = [:]
        try await ServiceHarness.with(prepare: { pool in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            let outline = OutlineSessions(store: store)
            for boundary in Boundary.allCases {
                let skip = boundary != .afterStart && boundary != .afterAnswers
                let started = try await outline.start(SessionStarted(workflowId: "wf-\(boundary.hashValue & 0xFFFF)-\(boundary)".filter { $0.isLetter || $0.isNumber || $0 == "-" },
                                                                     prompt: "Tidal energy", mode: .streaming, requestedBy: "alice", skipClarification: skip), at: old)
                var events: [OutlineEvent] = []
                switch boundary {
                case .afterStart, .afterStartSkipping: break
                case .afterAnswers:
                    events = [.clarificationRequested(ClarificationRequested(questions: ["Who reads it?"])),
                              .clarificationAnswered(ClarificationAnswered(answers: ["Engineers"]))]
                case .afterInstructions:
                    events = [.researchInstructionsWritten(ResearchInstructionsWritten(instructions: "Research tidal energy"))]
                case .afterRequestStarted:
                    events = [.researchInstructionsWritten(ResearchInstructionsWritten(instructions: "Research tidal energy")),
                              .providerRequestStarted(ProviderRequestStarted(model: "o3-deep-research", background: true, stream: true, attempt: 1))]
                }
                if !events.isEmpty {
                    try await store.append(StreamAppend(sessionID: started.sessionID, expectedSequence: 1, events: events.map { NewEvent($0, recordedAt: old) }))
                }
                sessions[boundary] = started.sessionID
            }
        }) { h in
            let store = EventStore(pool: h.pool)
            let outline = OutlineSessions(store: store)
            let snapshot = sessions
            // Lease 3 s, adoption every 1 s in the harness: 60 s is a loaded machine's margin.
            try await Deadline.wait(for: "every session to end or ask its writer", within: .seconds(60), every: .milliseconds(100)) {
                for (boundary, id) in snapshot {
                    let status = try await outline.row(id)?.status
                    let settled = boundary == .afterStart ? status == .awaitingClarification : status?.isTerminal == true
                    if !settled { return false }
                }
                return true
            }
            for (boundary, id) in snapshot {
                let row = try #require(try await outline.row(id))
                switch boundary {
                case .afterStart:
                    #expect(row.status == .awaitingClarification, "\(boundary.rawValue)")
                    #expect(row.clarificationQuestions?.isEmpty == false)
                case .afterStartSkipping, .afterAnswers, .afterInstructions:
                    #expect(row.status == .completed, "\(boundary.rawValue): \(row.status) \(row.errorMessage ?? "")")
                    #expect(await h.provider.state.researchCreates(forSession: id.uuidString.lowercased()) == 1, "\(boundary.rawValue)")
                case .afterRequestStarted:
                    // A create may have reached the provider: fail with the reason, never pay twice.
                    #expect(row.status == .failed, "\(boundary.rawValue)")
                    let log = try await store.read(session: id, limit: 1000)
                    let failure = try #require(log.compactMap { if case .failed(let f) = $0.event { f } else { nil } }.last)
                    #expect(failure.code == "charge_unknown")
                    #expect(failure.providerSettled == false)
                    #expect(await h.provider.state.researchCreates(forSession: id.uuidString.lowercased()) == 0)
                }
                if boundary != .afterStart { #expect(!row.isActive, "\(boundary.rawValue) still blocks its workflow") }
            }
        }
    }
}
