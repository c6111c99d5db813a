import EventLog
import OpenAIResponses
import SessionRunner
import Testing
import TestSupport

@Suite("Provider stream events to log events, on the recorded streams")
struct ProviderEventMappingTests {
    static func mapped(_ name: String) throws -> [OutlineEvent] {
        try RecordedStreams.payloads(name).map(ResponseStreamEvent.decode).flatMap { ProviderEventMapping.domainEvents(for: $0) }
    }

    @Test("the web-search stream becomes accepted, searches, deltas, citations and a completed outline equal to the deltas")
    func webSearchStream() throws {
        let events = try Self.mapped("openai-web-search-tool.1")
        guard case .providerResponseAccepted(let accepted) = events.first else { Issue.record("no accepted event first"); return }
        #expect(accepted.responseId.hasPrefix("resp_"))
        #expect(accepted.providerSequence == 0)
        let text = events.compactMap { if case .outputTextDelta(let d) = $0 { d.delta } else { nil } }.joined()
        guard case .completed(let completed) = events.last else { Issue.record("no completed event last"); return }
        #expect(completed.finalOutline == text)
        let citations = events.compactMap { if case .citationAdded(let c) = $0 { c.citation } else { nil } }
        #expect(citations.count == 12)
        #expect(completed.citations == citations)
        let steps = events.compactMap { if case .webSearchStep(let s) = $0 { s } else { nil } }
        #expect(steps.filter { $0.step == .completed }.count == 6)
        #expect(steps.compactMap(\.query).count == 2)
        // Every mapped event keeps its provider sequence number, strictly increasing.
        let sequences = events.compactMap(\.providerSequence)
        #expect(sequences.count == events.count - 1) // all but the terminal event
        #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
    }

    @Test("a failed stream ends the session with the provider's error")
    func failedStream() throws {
        let events = try Self.mapped("openai-error.1")
        guard case .failed(let failed) = events.last else { Issue.record("no failed event"); return }
        #expect(failed.code == "insufficient_quota")
        #expect(failed.message.contains("quota"))
    }

    @Test("reasoning summaries are kept; function-call noise is not")
    func reasoning() throws {
        let events = try Self.mapped("openai-reasoning-encrypted-content.1")
        let summary = events.compactMap { if case .reasoningSummaryDelta(let d) = $0 { d.delta } else { nil } }.joined()
        #expect(summary.hasPrefix("**Calculating step-by-step"))
        #expect(!events.contains { $0.eventType.contains("function") })
    }
}
