import Foundation

/// What can go wrong reading or writing the log, in terms a caller can act on.
public enum EventLogError: Error, Equatable, CustomStringConvertible {
    /// Someone else appended first: re-read the session and decide again.
    case sequenceConflict(sessionID: UUID, expected: Int32, actual: Int32)
    /// This provider stream event is already in the log (a resumed stream repeated it).
    case duplicateProviderEvent(sessionID: UUID, providerSequence: Int32?)
    /// A stored payload cannot be decoded; the row is named so it can be inspected.
    case corruptPayload(sessionID: UUID, sequence: Int32, position: Int64, reason: String)
    /// A compacted segment cannot be read back (its digest, its LZ4 block or
    /// its packed layout is wrong), named by session and first sequence.
    case corruptSegment(sessionID: UUID, firstSequence: Int32, reason: String)
    /// The session was removed by retention (`outline_removed_sessions`): its
    /// history is gone on purpose, recorded in the log audit stream.
    case sessionRemoved(sessionID: UUID, removedAt: Date, reason: String)
    /// An append with no events, or one that breaks the API's rules.
    case invalidAppend(String)

    public var description: String {
        switch self {
        case .sequenceConflict(let session, let expected, let actual):
            "session \(session.uuidString.lowercased()) is at sequence \(actual), not at the expected \(expected): re-read it and retry"
        case .duplicateProviderEvent(let session, let sequence):
            "session \(session.uuidString.lowercased()) already holds provider event \(sequence.map(String.init) ?? "?")"
        case .corruptPayload(let session, let sequence, let position, let reason):
            "the payload of event \(sequence) of session \(session.uuidString.lowercased()) (position \(position)) is damaged: \(reason)"
        case .corruptSegment(let session, let first, let reason):
            "the segment of session \(session.uuidString.lowercased()) from event \(first) is damaged: \(reason)"
        case .sessionRemoved(let session, let at, let reason):
            "session \(session.uuidString.lowercased()) was removed at \(TimestampText.format(at)): \(reason)"
        case .invalidAppend(let why):
            "invalid append: \(why)"
        }
    }
}
