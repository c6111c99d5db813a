/// The payload of one kind of event in the log.
///
/// `eventType` is the stable name stored in the `event_type` column and sent as the
/// SSE `event:` field; `schemaVersion` grows when the payload's shape changes, so a
/// reader can tell old rows from new ones and an older build can keep a newer row raw.
public protocol OutlineEventPayload: Codable, Sendable, Equatable {
    static var eventType: String { get }
    static var schemaVersion: Int16 { get }
    /// The provider stream's `sequence_number`, for events that came from it.
    var providerSequence: Int32? { get }
}

extension OutlineEventPayload {
    public var providerSequence: Int32? { nil }
}
