import Foundation

/// Turns events into JSON and back, by the type name and schema version stored
/// beside each payload.
public enum EventCatalog {
    /// What `decode` does with one (type, version): the newest version each type
    /// is read at. A stored version above it, or a type not listed, stays raw.
    private static let decoders: [String: (version: Int16, decode: @Sendable ([UInt8]) throws -> OutlineEvent)] = {
        var table: [String: (version: Int16, decode: @Sendable ([UInt8]) throws -> OutlineEvent)] = [:]
        /// `fast`, when given, reads the common shape directly; anything it
        /// declines goes to the generic decoder, which also reports errors.
        func register<P: OutlineEventPayload>(_ type: P.Type, _ wrap: @escaping @Sendable (P) -> OutlineEvent,
                                              fast: (@Sendable ([UInt8]) -> P?)? = nil) {
            table[P.eventType] = (P.schemaVersion, { bytes in
                if let fast, let payload = fast(bytes) { return wrap(payload) }
                return wrap(try decoder.decode(P.self, from: Data(bytes)))
            })
        }
        register(SessionStarted.self, OutlineEvent.sessionStarted)
        register(ClarificationRequested.self, OutlineEvent.clarificationRequested)
        register(ClarificationAnswered.self, OutlineEvent.clarificationAnswered)
        register(ResearchInstructionsWritten.self, OutlineEvent.researchInstructionsWritten)
        register(ProviderRequestStarted.self, OutlineEvent.providerRequestStarted)
        register(ProviderResponseAccepted.self, OutlineEvent.providerResponseAccepted)
        register(ProviderStatusChanged.self, OutlineEvent.providerStatusChanged)
        register(ReasoningSummaryDelta.self, OutlineEvent.reasoningSummaryDelta, fast: DeltaJSON.decodeReasoningSummaryDelta)
        register(WebSearchStep.self, OutlineEvent.webSearchStep)
        register(OutputTextDelta.self, OutlineEvent.outputTextDelta, fast: DeltaJSON.decodeOutputTextDelta)
        register(CitationAdded.self, OutlineEvent.citationAdded)
        register(SessionPolled.self, OutlineEvent.polled)
        register(ProviderWebhookReceived.self, OutlineEvent.webhookReceived)
        register(SessionCompleted.self, OutlineEvent.completed)
        register(SessionFailed.self, OutlineEvent.failed)
        register(SessionCancelled.self, OutlineEvent.cancelled)
        register(SessionResumed.self, OutlineEvent.resumed)
        return table
    }()

    private nonisolated(unsafe) static let decoder = JSONDecoder()

    /// The event type names this build knows, with the version it reads.
    public static var knownTypes: [String: Int16] { decoders.mapValues(\.version) }

    /// The payload's JSON, UTF-8, keys sorted so equal events give equal bytes.
    public static func encode(_ event: OutlineEvent) throws -> [UInt8] {
        switch event {
        case .unknown(let unknown): return unknown.json
        case .outputTextDelta(let delta): return DeltaJSON.encode(delta)
        case .reasoningSummaryDelta(let delta): return DeltaJSON.encode(delta)
        default: return Array(try encoder.encode(AnyPayload(event.payload!)))
        }
    }

    /// The generic encoder's bytes, for checking the hand-written hot paths against.
    static func encodeGenerically(_ event: OutlineEvent) throws -> [UInt8] {
        Array(try encoder.encode(AnyPayload(event.payload!)))
    }

    /// Shared: configured once, never changed afterwards, and safe to use from many threads.
    private nonisolated(unsafe) static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Reads a stored payload. Unknown types and versions come back as `.unknown`;
    /// a known type whose JSON does not parse is an error (the row is damaged).
    public static func decode(eventType: String, schemaVersion: Int16, json: [UInt8], providerSequence: Int32? = nil) throws -> OutlineEvent {
        guard let entry = decoders[eventType], schemaVersion <= entry.version else {
            return .unknown(UnknownEvent(eventType: eventType, schemaVersion: schemaVersion, json: json, providerSequence: providerSequence))
        }
        return try entry.decode(json)
    }
}

/// Encodes any payload through its own `Encodable` conformance.
private struct AnyPayload: Encodable {
    let payload: any OutlineEventPayload
    init(_ payload: any OutlineEventPayload) { self.payload = payload }
    func encode(to encoder: any Encoder) throws { try payload.encode(to: encoder) }
}
