/// A source the research model cited, with where it is cited in the output text.
/// Indices count Unicode scalars (code points), as the provider does.
public struct Citation: Codable, Sendable, Equatable, Hashable {
    public var url: String
    public var title: String?
    public var startIndex: Int32
    public var endIndex: Int32
    public init(url: String, title: String?, startIndex: Int32, endIndex: Int32) {
        self.url = url
        self.title = title
        self.startIndex = startIndex
        self.endIndex = endIndex
    }
}

/// We are about to call the provider. Recorded before the call, so a crash
/// between the two leaves a trace an adopting runner can reconcile.
public struct ProviderRequestStarted: OutlineEventPayload {
    public static let eventType = "provider.request_started"
    public static let schemaVersion: Int16 = 1
    public var model: String
    public var background: Bool
    public var stream: Bool
    public var attempt: Int32
    public init(model: String, background: Bool, stream: Bool, attempt: Int32) {
        self.model = model
        self.background = background
        self.stream = stream
        self.attempt = attempt
    }
}

/// The provider accepted the request and named its response: the charge point.
public struct ProviderResponseAccepted: OutlineEventPayload {
    public static let eventType = "provider.response_accepted"
    public static let schemaVersion: Int16 = 1
    public var responseId: String
    public var status: String?
    public var providerSequence: Int32?
    public init(responseId: String, status: String?, providerSequence: Int32?) {
        self.responseId = responseId
        self.status = status
        self.providerSequence = providerSequence
    }
}

/// The provider's response changed status (queued, in_progress, ...).
public struct ProviderStatusChanged: OutlineEventPayload {
    public static let eventType = "provider.status_changed"
    public static let schemaVersion: Int16 = 1
    public var status: String
    public var providerSequence: Int32?
    public init(status: String, providerSequence: Int32?) {
        self.status = status
        self.providerSequence = providerSequence
    }
}

/// A piece of the model's reasoning summary.
public struct ReasoningSummaryDelta: OutlineEventPayload {
    public static let eventType = "reasoning.summary_delta"
    public static let schemaVersion: Int16 = 1
    public var itemId: String
    public var summaryIndex: Int32
    public var delta: String
    public var providerSequence: Int32?
    public init(itemId: String, summaryIndex: Int32, delta: String, providerSequence: Int32?) {
        self.itemId = itemId
        self.summaryIndex = summaryIndex
        self.delta = delta
        self.providerSequence = providerSequence
    }
}

/// One step of a web search the research model runs.
public struct WebSearchStep: OutlineEventPayload {
    public static let eventType = "web_search.step"
    public static let schemaVersion: Int16 = 1
    public enum Step: String, Codable, Sendable {
        case inProgress = "in_progress"
        case searching
        case completed
        /// What the search did, once the provider reports it (its query).
        case described
    }
    public var itemId: String
    public var step: Step
    public var query: String?
    public var providerSequence: Int32?
    public init(itemId: String, step: Step, query: String?, providerSequence: Int32?) {
        self.itemId = itemId
        self.step = step
        self.query = query
        self.providerSequence = providerSequence
    }
}

/// A piece of the outline text as the model writes it.
public struct OutputTextDelta: OutlineEventPayload {
    public static let eventType = "output_text.delta"
    public static let schemaVersion: Int16 = 1
    public var itemId: String?
    public var outputIndex: Int32
    public var contentIndex: Int32
    public var delta: String
    public var providerSequence: Int32?
    public init(itemId: String?, outputIndex: Int32, contentIndex: Int32, delta: String, providerSequence: Int32?) {
        self.itemId = itemId
        self.outputIndex = outputIndex
        self.contentIndex = contentIndex
        self.delta = delta
        self.providerSequence = providerSequence
    }
}

/// The model cited a source in the output text.
public struct CitationAdded: OutlineEventPayload {
    public static let eventType = "citation.added"
    public static let schemaVersion: Int16 = 1
    public var citation: Citation
    public var providerSequence: Int32?
    public init(citation: Citation, providerSequence: Int32?) {
        self.citation = citation
        self.providerSequence = providerSequence
    }
}
