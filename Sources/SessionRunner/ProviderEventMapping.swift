import EventLog
import OpenAIResponses
import OutlineJSON

/// Turns the provider's stream events into the log's domain events: a pure
/// function, so what a session records is decided here and tested against the
/// recorded streams, apart from any I/O.
///
/// Every mapped event keeps the provider's `sequence_number`. Events that carry
/// nothing a reader needs (content parts, part boundaries, the `done` events
/// that repeat the whole text, function call arguments) map to nothing; a stream
/// resumed after them simply skips them again.
public enum ProviderEventMapping {
    /// `prices` (with the requested `model` for a response that names none)
    /// prices the usage a terminal response reports.
    public static func domainEvents(for event: ResponseStreamEvent, prices: PriceTable? = nil, model: String = "") -> [OutlineEvent] {
        let sequence = Int32(clamping: event.sequenceNumber)
        switch event.kind {
        case .lifecycle(let response):
            switch event.type {
            case "response.created":
                return [.providerResponseAccepted(ProviderResponseAccepted(responseId: response.id, status: response.status.rawValue, providerSequence: sequence))]
            case "response.queued", "response.in_progress":
                return [.providerStatusChanged(ProviderStatusChanged(status: response.status.rawValue, providerSequence: sequence))]
            default:
                return terminalEvents(for: response, providerSequence: sequence, prices: prices, model: model)
            }
        case .webSearchCall(let status, let itemID, _):
            let step: WebSearchStep.Step = switch status {
            case "searching": .searching
            case "completed": .completed
            default: .inProgress
            }
            return [.webSearchStep(WebSearchStep(itemId: itemID, step: step, query: nil, providerSequence: sequence))]
        case .outputItemDone(_, let item) where item.type == "web_search_call":
            guard let query = item.action?.query, !query.isEmpty else { return [] }
            return [.webSearchStep(WebSearchStep(itemId: item.id ?? "", step: .described, query: query, providerSequence: sequence))]
        case .reasoningSummaryDelta(let itemID, _, let summaryIndex, let delta):
            return [.reasoningSummaryDelta(ReasoningSummaryDelta(itemId: itemID, summaryIndex: Int32(clamping: summaryIndex), delta: delta, providerSequence: sequence))]
        case .outputTextDelta(let itemID, let outputIndex, let contentIndex, let delta):
            return [.outputTextDelta(OutputTextDelta(itemId: itemID, outputIndex: Int32(clamping: outputIndex), contentIndex: Int32(clamping: contentIndex),
                                                     delta: delta, providerSequence: sequence))]
        case .annotationAdded(_, _, _, _, let annotation):
            guard let citation = annotation.urlCitation, CitationLink.isAllowed(citation.url) else { return [] }
            return [.citationAdded(CitationAdded(citation: Citation(citation), providerSequence: sequence))]
        case .outputItemAdded, .outputItemDone, .outputTextDone, .error, .other:
            // `error` is followed by `response.failed`, which carries the verdict.
            return []
        }
    }

    /// The events that end a session, from the provider's final response (the
    /// stream's last event, or a retrieved response when polling).
    public static func terminalEvents(for response: ResponseObject, providerSequence: Int32?, prices: PriceTable? = nil, model: String = "") -> [OutlineEvent] {
        let cost = prices?.cost(of: response, model: model)
        switch response.status {
        case .completed:
            return [.completed(SessionCompleted(finalOutline: response.outputText, citations: response.citations.safeCitations, usage: response.usage, cost: cost))]
        case .failed:
            return [.failed(SessionFailed(code: response.error?.code ?? "provider_failed",
                                          message: response.error?.message ?? "The research model failed without saying why.", retryable: false,
                                          providerSettled: true, cost: cost))]
        case .incomplete:
            return [.failed(SessionFailed(code: "incomplete", message: "The research stopped before finishing (\(response.incompleteDetails?.reason ?? "no reason given")).",
                                          retryable: false, providerSettled: true, cost: cost))]
        case .cancelled:
            return [.cancelled(SessionCancelled(cancelledBy: "provider", reason: "the provider reports the response cancelled", cost: cost))]
        case .queued, .inProgress, .other:
            return [.providerStatusChanged(ProviderStatusChanged(status: response.status.rawValue, providerSequence: providerSequence))]
        }
    }
}

extension [URLCitation] {
    /// The citations the service keeps (see `CitationLink`).
    var safeCitations: [Citation] { filter { CitationLink.isAllowed($0.url) }.map(Citation.init) }
}

extension Citation {
    init(_ citation: URLCitation) {
        self.init(url: citation.url, title: citation.title, startIndex: Int32(clamping: citation.startIndex), endIndex: Int32(clamping: citation.endIndex))
    }
}
