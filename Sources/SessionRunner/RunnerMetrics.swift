import EventLog
import Metrics
import OpenAIResponses

/// What the runner reports to the metrics system: provider errors by kind and
/// the time from the research request to its first content.
enum RunnerMetrics {
    static let timeToFirstContent = Timer(label: "outline_time_to_first_content_seconds")
    /// The live path's first stage: a provider event's bytes reaching this process
    /// → the runner handing its events to the session's writer (parsing,
    /// decoding, mapping, and the hops between them).
    static let providerToRunner = Timer(label: "outline_live_stage_seconds", dimensions: [("stage", "provider_to_runner")])
    /// Provider responses the runner cancelled because their session ended or failed.
    static let upstreamCancels = Counter(label: "outline_provider_cancels_total")
    /// Running sessions stopped because they crossed a hard spending cap.
    static let hardCapStops = Counter(label: "outline_budget_hard_cap_stops_total")
    /// Followed responses fetched because their webhook arrived (not polled).
    static let webhookWakeups = Counter(label: "outline_webhook_wakeups_total")

    static func providerError(_ error: ResponsesError) {
        let kind = switch error {
        case .http(let status, _, _, _) where status == 429: "rate_limited"
        case .http(let status, _, _, _) where status >= 500: "server_error"
        case .http: "client_error"
        case .transport: "connection"
        case .stalled: "stalled"
        case .malformedEvent: "malformed_event"
        }
        Counter(label: "outline_provider_errors_total", dimensions: [("kind", kind)]).increment()
    }
}

extension OutlineEvent {
    /// Content the writer sees: reasoning, searches, text, citations.
    var isContent: Bool {
        switch self {
        case .reasoningSummaryDelta, .webSearchStep, .outputTextDelta, .citationAdded: true
        default: false
        }
    }
}
