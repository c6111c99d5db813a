import Foundation

/// Every event an outline session's log can hold.
///
/// `unknown` keeps an event whose type or schema version this build does not know
/// (written by a newer build, or retired): reading the log never fails because of
/// it, and it is shown raw.
public enum OutlineEvent: Sendable, Equatable {
    case sessionStarted(SessionStarted)
    case clarificationRequested(ClarificationRequested)
    case clarificationAnswered(ClarificationAnswered)
    case researchInstructionsWritten(ResearchInstructionsWritten)
    case providerRequestStarted(ProviderRequestStarted)
    case providerResponseAccepted(ProviderResponseAccepted)
    case providerStatusChanged(ProviderStatusChanged)
    case reasoningSummaryDelta(ReasoningSummaryDelta)
    case webSearchStep(WebSearchStep)
    case outputTextDelta(OutputTextDelta)
    case citationAdded(CitationAdded)
    case polled(SessionPolled)
    case webhookReceived(ProviderWebhookReceived)
    case completed(SessionCompleted)
    case failed(SessionFailed)
    case cancelled(SessionCancelled)
    case resumed(SessionResumed)
    case unknown(UnknownEvent)

    /// The payload as the protocol every known case shares.
    public var payload: (any OutlineEventPayload)? {
        switch self {
        case .sessionStarted(let p): p
        case .clarificationRequested(let p): p
        case .clarificationAnswered(let p): p
        case .researchInstructionsWritten(let p): p
        case .providerRequestStarted(let p): p
        case .providerResponseAccepted(let p): p
        case .providerStatusChanged(let p): p
        case .reasoningSummaryDelta(let p): p
        case .webSearchStep(let p): p
        case .outputTextDelta(let p): p
        case .citationAdded(let p): p
        case .polled(let p): p
        case .webhookReceived(let p): p
        case .completed(let p): p
        case .failed(let p): p
        case .cancelled(let p): p
        case .resumed(let p): p
        case .unknown: nil
        }
    }

    public var eventType: String {
        if case .unknown(let event) = self { return event.eventType }
        return type(of: payload!).eventType
    }

    public var schemaVersion: Int16 {
        if case .unknown(let event) = self { return event.schemaVersion }
        return type(of: payload!).schemaVersion
    }

    public var providerSequence: Int32? {
        if case .unknown(let event) = self { return event.providerSequence }
        return payload!.providerSequence
    }

    /// The provider charge this event records, when it records one.
    public var cost: ProviderCost? {
        switch self {
        case .clarificationRequested(let p): p.cost
        case .researchInstructionsWritten(let p): p.cost
        case .completed(let p): p.cost
        case .failed(let p): p.cost
        case .cancelled(let p): p.cost
        default: nil
        }
    }

    /// True for the events that end a session: nothing follows them.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        default: false
        }
    }
}

/// An event this build cannot interpret, kept with its raw JSON.
public struct UnknownEvent: Sendable, Equatable {
    public var eventType: String
    public var schemaVersion: Int16
    public var json: [UInt8]
    public var providerSequence: Int32?
    public init(eventType: String, schemaVersion: Int16, json: [UInt8], providerSequence: Int32? = nil) {
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.json = json
        self.providerSequence = providerSequence
    }
}
