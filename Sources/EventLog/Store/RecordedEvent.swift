import Foundation

/// An event read back from the log, with everything stored beside it.
public struct RecordedEvent: Sendable, Equatable {
    public var position: Int64
    public var sessionID: UUID
    public var sequence: Int32
    public var eventType: String
    public var schemaVersion: Int16
    public var codec: PayloadCodec
    public var storedSize: Int
    public var rawSize: Int
    public var providerSequence: Int32?
    public var recordedAt: Date
    public var chainLink: [UInt8]
    /// The payload's JSON as it was appended.
    public var json: [UInt8]
    public var event: OutlineEvent
    /// Set when the payload was redacted (`json` is then the tombstone): the
    /// SHA-256 of the JSON that was appended, which the chain link covers.
    public var redactedDigest: [UInt8]? = nil
}
