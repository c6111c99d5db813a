import Foundation
import PostgresClient

/// A `StreamAppend` with its payloads encoded, compressed and digested.
///
/// Made by the appending task itself (in parallel with other sessions' tasks),
/// before the transaction opens, so a transaction holds its locks only for the
/// database work and one writer's CPU is not the bottleneck of a group commit.
struct EncodedAppend: Sendable {
    var sessionID: UUID
    var expectedSequence: Int32
    var events: [PreparedAppend.Event]

    init(_ append: StreamAppend) throws {
        guard !append.events.isEmpty else { throw EventLogError.invalidAppend("no events for session \(append.sessionID)") }
        guard append.expectedSequence >= 0 else { throw EventLogError.invalidAppend("expected sequence \(append.expectedSequence) is negative") }
        sessionID = append.sessionID
        expectedSequence = append.expectedSequence
        events = try append.events.map { new in
            let json = try EventCatalog.encode(new.event)
            let (codec, stored) = PayloadCodec.encode(json)
            return PreparedAppend.Event(source: new, eventType: new.event.eventType, schemaVersion: new.event.schemaVersion,
                                        codec: codec, stored: stored, rawSize: Int32(json.count), digest: ChainLink.payloadDigest(json), json: json)
        }
    }

    var eventCount: Int { events.count }
}

/// The appends of one transaction, merged per session and ordered for locking.
struct PreparedAppend: Sendable {
    struct Event: Sendable {
        var source: NewEvent
        var eventType: String
        var schemaVersion: Int16
        var codec: PayloadCodec
        var stored: [UInt8]
        var rawSize: Int32
        var digest: [UInt8]
        /// The uncompressed JSON, handed to this instance's live feeds after commit.
        var json: [UInt8]
    }

    struct Stream: Sendable {
        var sessionID: UUID
        var expected: Int32
        var events: [Event]
    }

    /// One entry per session, in session-id order (the order rows are locked in,
    /// so two appends never wait on each other in a cycle).
    let streams: [Stream]

    init(_ appends: [EncodedAppend]) throws {
        var bySession: [UUID: Stream] = [:]
        for append in appends {
            if var existing = bySession[append.sessionID] {
                // A second append for the same session in one batch must follow the first.
                let end = existing.expected + Int32(existing.events.count)
                guard append.expectedSequence == end else {
                    throw EventLogError.sequenceConflict(sessionID: append.sessionID, expected: append.expectedSequence, actual: end)
                }
                existing.events += append.events
                bySession[append.sessionID] = existing
            } else {
                bySession[append.sessionID] = Stream(sessionID: append.sessionID, expected: append.expectedSequence, events: append.events)
            }
        }
        streams = bySession.values.sorted { $0.sessionID.uuidString < $1.sessionID.uuidString }
    }

    struct ChainedEvent: Sendable {
        var sessionID: UUID
        var sequence: Int32
        var link: [UInt8]
        var source: NewEvent
        var eventType: String
        var json: [UInt8]
    }

    struct Chained: Sendable {
        var streams: [(sessionID: UUID, expected: Int32, count: Int32)]
        var events: [ChainedEvent]
        var binds: [(any PostgresEncodable)?]
    }

    /// Numbers and links every event onto the heads read from the database, or
    /// throws a conflict for the first session whose head is not the expected one.
    func chain(onto heads: [UUID: (sequence: Int32, link: [UInt8])]) throws -> Chained {
        var sessions: [UUID] = [], expected: [Int32] = [], counts: [Int32] = [], previousLinks: [PostgresBytes] = [], newLinks: [PostgresBytes] = []
        var eventSessions: [UUID] = [], sequences: [Int32] = [], types: [String] = [], versions: [Int16] = [], codecs: [Int16] = []
        var payloads: [PostgresBytes] = [], rawSizes: [Int32] = [], providerSequences: [Int32?] = [], recordedAt: [Date] = [], links: [PostgresBytes] = []
        var chainedEvents: [ChainedEvent] = []
        var summary: [(sessionID: UUID, expected: Int32, count: Int32)] = []
        for stream in streams {
            let head = heads[stream.sessionID] ?? (0, ChainLink.genesis)
            guard head.sequence == stream.expected else {
                throw EventLogError.sequenceConflict(sessionID: stream.sessionID, expected: stream.expected, actual: head.sequence)
            }
            var link = head.link
            var sequence = head.sequence
            for event in stream.events {
                sequence += 1
                link = ChainLink.next(previous: link, sequence: sequence, eventType: event.eventType, payloadDigest: event.digest)
                eventSessions.append(stream.sessionID)
                sequences.append(sequence)
                types.append(event.eventType)
                versions.append(event.schemaVersion)
                codecs.append(event.codec.rawValue)
                payloads.append(PostgresBytes(event.stored))
                rawSizes.append(event.rawSize)
                providerSequences.append(event.source.event.providerSequence)
                recordedAt.append(event.source.recordedAt)
                links.append(PostgresBytes(link))
                chainedEvents.append(ChainedEvent(sessionID: stream.sessionID, sequence: sequence, link: link, source: event.source,
                                                  eventType: event.eventType, json: event.json))
            }
            sessions.append(stream.sessionID)
            expected.append(stream.expected)
            counts.append(Int32(stream.events.count))
            previousLinks.append(PostgresBytes(head.link))
            newLinks.append(PostgresBytes(link))
            summary.append((stream.sessionID, stream.expected, Int32(stream.events.count)))
        }
        let binds: [(any PostgresEncodable)?] = [
            PostgresArray(sessions), PostgresArray(expected), PostgresArray(counts), PostgresArray(previousLinks), PostgresArray(newLinks),
            PostgresArray(eventSessions), PostgresArray(sequences), PostgresArray(types), PostgresArray(versions), PostgresArray(codecs),
            PostgresArray(payloads), PostgresArray(rawSizes), PostgresArray(providerSequences), PostgresArray(recordedAt), PostgresArray(links),
        ]
        return Chained(streams: summary, events: chainedEvents, binds: binds)
    }
}
