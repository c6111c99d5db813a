import EventLog
import Foundation
import OutlineJSON

/// Event histories for tests: one of every kind, and whole generated sessions.
public enum SampleEvents {
    /// One event of every type the catalog knows, in an order a session could have.
    public static func everyType(workflowId: String = "wf-\(UUID().uuidString.prefix(8))") -> [OutlineEvent] {
        [
            .sessionStarted(SessionStarted(workflowId: workflowId, prompt: "Plan an article on “tidal power” – costs & sites", mode: .streaming,
                                           requestedBy: "user-1", idempotencyKey: "key-1", stepId: "step-9",
                                           metadata: .object(["source": .string("test"), "n": .number(3), "ok": .bool(true), "none": .null]))),
            .clarificationRequested(ClarificationRequested(questions: ["Who reads it?", "How long?", "Which regions?"])),
            .clarificationAnswered(ClarificationAnswered(answers: ["Engineers", "2,000 words", "Europe"])),
            .researchInstructionsWritten(ResearchInstructionsWritten(instructions: "Research tidal power for engineers in Europe.")),
            .providerRequestStarted(ProviderRequestStarted(model: "o3-deep-research", background: true, stream: true, attempt: 1)),
            .providerResponseAccepted(ProviderResponseAccepted(responseId: "resp_123", status: "queued", providerSequence: 0)),
            .providerStatusChanged(ProviderStatusChanged(status: "in_progress", providerSequence: 1)),
            .reasoningSummaryDelta(ReasoningSummaryDelta(itemId: "rs_1", summaryIndex: 0, delta: "Looking at sites…", providerSequence: 2)),
            .webSearchStep(WebSearchStep(itemId: "ws_1", step: .searching, query: nil, providerSequence: 3)),
            .webSearchStep(WebSearchStep(itemId: "ws_1", step: .completed, query: "tidal power costs europe", providerSequence: 4)),
            .outputTextDelta(OutputTextDelta(itemId: "msg_1", outputIndex: 2, contentIndex: 0, delta: "# Tidal power\n", providerSequence: 5)),
            .citationAdded(CitationAdded(citation: Citation(url: "https://example.org/tides", title: "Tides’ costs", startIndex: 2, endIndex: 13), providerSequence: 6)),
            .polled(SessionPolled(attempt: 1, providerStatus: "in_progress")),
            .webhookReceived(ProviderWebhookReceived(webhookId: "wh_1", webhookType: "response.completed")),
            .resumed(SessionResumed(fromProviderSequence: 6, reason: "stream dropped", runner: "runner-a")),
            .completed(SessionCompleted(finalOutline: "# Tidal power\n", citations: [Citation(url: "https://example.org/tides", title: nil, startIndex: 2, endIndex: 13)],
                                        usage: .object(["total_tokens": .number(1234)]),
                                        cost: ProviderCost(model: "o3-deep-research", inputTokens: 1000, cachedInputTokens: 200, outputTokens: 234,
                                                           reasoningTokens: 100, webSearchCalls: 1, microdollars: 19_860, pricedWith: "2025-06-26", estimated: false))),
        ]
    }

    /// The other terminal events, which `everyType` cannot hold after `completed`.
    public static let otherTerminals: [OutlineEvent] = [
        .failed(SessionFailed(code: "provider_error", message: "The provider failed.", retryable: true)),
        .cancelled(SessionCancelled(cancelledBy: "user-1", reason: "changed my mind")),
    ]

    /// A plausible session: start, clarification, research with `deltas` text
    /// deltas, searches and citations, and an end chosen by `seed`.
    public static func session(workflowId: String, deltas: Int, seed: Int) -> [OutlineEvent] {
        var events: [OutlineEvent] = [
            .sessionStarted(SessionStarted(workflowId: workflowId, prompt: "Prompt \(seed)", mode: seed % 3 == 0 ? .polling : .streaming,
                                           requestedBy: "user-\(seed % 7)", idempotencyKey: seed % 2 == 0 ? "k\(seed)" : nil)),
            .clarificationRequested(ClarificationRequested(questions: ["Q1 \(seed)", "Q2"])),
            .clarificationAnswered(ClarificationAnswered(answers: ["A1", "A2 \(seed)"])),
            .researchInstructionsWritten(ResearchInstructionsWritten(instructions: "Instructions \(seed)")),
            .providerRequestStarted(ProviderRequestStarted(model: "o3-deep-research", background: true, stream: true, attempt: 1)),
            .providerResponseAccepted(ProviderResponseAccepted(responseId: "resp_\(seed)", status: "queued", providerSequence: 0)),
        ]
        var providerSequence: Int32 = 1
        var text = ""
        for i in 0..<deltas {
            providerSequence += 1
            if i % 25 == 0 {
                events.append(.webSearchStep(WebSearchStep(itemId: "ws_\(i)", step: .completed, query: "query \(i)", providerSequence: providerSequence)))
                providerSequence += 1
            }
            if i % 40 == 0 && i > 0 {
                events.append(.reasoningSummaryDelta(ReasoningSummaryDelta(itemId: "rs", summaryIndex: 0, delta: "thinking \(i). ", providerSequence: providerSequence)))
                providerSequence += 1
            }
            let delta = "word\(i)’s – "
            text += delta
            events.append(.outputTextDelta(OutputTextDelta(itemId: "msg", outputIndex: 0, contentIndex: 0, delta: delta, providerSequence: providerSequence)))
            if i % 50 == 49 {
                providerSequence += 1
                events.append(.citationAdded(CitationAdded(citation: Citation(url: "https://example.org/\(i)", title: "Source \(i)", startIndex: 0, endIndex: 5),
                                                           providerSequence: providerSequence)))
            }
        }
        switch seed % 4 {
        case 0: events.append(.completed(SessionCompleted(finalOutline: text, citations: [])))
        case 1: events.append(.failed(SessionFailed(code: "stalled", message: "no bytes for 60 s", retryable: true)))
        case 2: events.append(.cancelled(SessionCancelled(cancelledBy: "user")))
        default: break // still running
        }
        return events
    }
}
