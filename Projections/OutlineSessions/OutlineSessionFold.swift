import EventLog
import Foundation
import OutlineJSON

/// The pure fold of a session's events into its `outline_sessions` row.
///
/// Both the inline path (at append time) and the rebuild (from the log) call
/// this and nothing else, and it reads nothing but its arguments: that is why a
/// rebuild gives exactly the rows the inline path wrote.
public enum OutlineSessionFold {
    /// The row after `event`; nil while a session has no `session.started` yet
    /// (there is nothing to show before it).
    public static func apply(
        _ event: OutlineEvent,
        sessionID: UUID,
        sequence: Int32,
        recordedAt: Date,
        to current: OutlineSessionRow?
    ) -> OutlineSessionRow? {
        var row = current
        apply(event, sessionID: sessionID, sequence: sequence, recordedAt: recordedAt, to: &row)
        return row
    }

    /// Whether `event` may replace the streamed texts rather than append to them.
    /// Every other event leaves `outputText` and `reasoningSummary` as they were
    /// or appends to them, which lets the inline projection send only the new text.
    public static func replacesText(_ event: OutlineEvent) -> Bool {
        if case .completed = event { return true }
        return false
    }

    /// Folds `event` into `row` in place: a growing outline is never copied.
    public static func apply(
        _ event: OutlineEvent,
        sessionID: UUID,
        sequence: Int32,
        recordedAt: Date,
        to current: inout OutlineSessionRow?
    ) {
        guard current != nil else {
            guard case .sessionStarted(let started) = event else { return }
            current = OutlineSessionRow(
                id: sessionID, workflowId: started.workflowId, version: 1, stepId: started.stepId,
                status: .pending, outlinePrompt: started.prompt, clarificationQuestions: nil, clarificationAnswers: nil,
                agentState: nil, researchInstructions: nil, finalOutline: nil, citations: nil,
                sessionMetadata: started.metadata, backgroundResponseId: nil, pollingAttempts: 0, lastPolledAt: nil,
                isActive: true, errorMessage: nil, startedAt: recordedAt, completedAt: nil, createdAt: recordedAt,
                updatedAt: recordedAt, mode: started.mode, requestedBy: started.requestedBy,
                idempotencyKey: started.idempotencyKey, lastEventSequence: sequence, lastProviderSequence: nil,
                outputText: "", reasoningSummary: "", progressPhase: started.skipClarification ? .preparing : .clarifying,
                webSearchesDone: 0, webSearchQueries: [], elapsedMs: 0, lastEventAt: recordedAt,
                workflowOwner: started.workflow.owner
            )
            return
        }
        apply(event, sequence: sequence, recordedAt: recordedAt, to: &current!)
    }

    private static func apply(_ event: OutlineEvent, sequence: Int32, recordedAt: Date, to row: inout OutlineSessionRow) {
        // A charge counts while the session runs: an event after its end (which
        // the append path does not allow) could not add to what it cost.
        if let cost = event.cost, row.isActive {
            var totals = row.cost ?? SessionCostTotals()
            totals.add(cost)
            row.cost = totals
            row.costMicrodollars = totals.microdollars
        }
        switch event {
        case .sessionStarted:
            break // a second start of the same session id changes nothing
        case .clarificationRequested(let requested):
            row.clarificationQuestions = requested.questions
            row.status = .awaitingClarification
            row.progressPhase = .clarifying
        case .clarificationAnswered(let answered):
            row.clarificationAnswers = answered.answers
            row.status = .clarified
            row.progressPhase = .preparing
        case .researchInstructionsWritten(let written):
            row.researchInstructions = written.instructions
            row.progressPhase = .preparing
        case .providerRequestStarted:
            row.status = .researching
            row.progressPhase = .researching
        case .providerResponseAccepted(let accepted):
            row.backgroundResponseId = accepted.responseId
            if let status = accepted.status { row.agentState = .object(["provider_status": .string(status)]) }
        case .providerStatusChanged(let changed):
            row.agentState = .object(["provider_status": .string(changed.status)])
        case .reasoningSummaryDelta(let delta):
            row.reasoningSummary += delta.delta
        case .webSearchStep(let step):
            if step.step == .completed { row.webSearchesDone += 1 }
            if let query = step.query, !query.isEmpty { row.webSearchQueries.append(query) }
        case .outputTextDelta(let delta):
            row.outputText += delta.delta
            row.progressPhase = .writing
        case .citationAdded(let added):
            row.citations = (row.citations ?? []) + [added.citation]
        case .polled(let polled):
            row.pollingAttempts = polled.attempt
            row.lastPolledAt = recordedAt
            row.agentState = .object(["provider_status": .string(polled.providerStatus)])
        case .completed(let completed) where row.isActive:
            row.finalOutline = completed.finalOutline
            row.outputText = completed.finalOutline
            row.citations = completed.citations
            finish(&row, status: .completed, phase: .done, at: recordedAt)
        case .failed(let failed) where row.isActive:
            row.errorMessage = failed.message
            finish(&row, status: .failed, phase: .failed, at: recordedAt)
        case .cancelled:
            finish(&row, status: .cancelled, phase: .cancelled, at: recordedAt)
        case .webhookReceived(let received):
            row.agentState = .object(["provider_status": .string(String(received.webhookType.dropFirst("response.".count)))])
        case .completed, .failed, .resumed, .unknown:
            break
        }
        if let providerSequence = event.providerSequence {
            row.lastProviderSequence = max(row.lastProviderSequence ?? providerSequence, providerSequence)
        }
        row.lastEventSequence = sequence
        row.updatedAt = recordedAt
        row.lastEventAt = recordedAt
        // In whole microseconds first (what PostgreSQL stores), so the inline fold
        // and a rebuild from stored times compute the same figure.
        row.elapsedMs = (microseconds(recordedAt) - microseconds(row.startedAt)) / 1000
    }

    private static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    private static func finish(_ row: inout OutlineSessionRow, status: OutlineSessionRow.Status, phase: OutlineSessionRow.Phase, at time: Date) {
        guard row.isActive else { return } // the first terminal event wins
        row.status = status
        row.progressPhase = phase
        row.isActive = false
        row.completedAt = time
    }
}
