import Crypto
import Foundation
import LZ4
import PostgresClient

/// One event as a segment keeps it: every column of its hot row, with the
/// payload's JSON already decompressed. A compacted event reads back exactly as
/// its row did (the same position, codec and stored size too), so no reader's
/// output changes when a session moves from hot rows into segments.
public struct SegmentEvent: Sendable, Equatable {
    public var position: Int64
    public var sequence: Int32
    public var eventType: String
    public var schemaVersion: Int16
    /// The codec and stored size the event had as a hot row (what `/events` and audits report).
    public var codec: PayloadCodec
    public var storedSize: Int
    public var providerSequence: Int32?
    /// PostgreSQL's own resolution: microseconds since 2000-01-01 UTC.
    public var recordedAtMicroseconds: Int64
    public var chainLink: [UInt8]
    public var json: [UInt8]
    /// Set when the payload was redacted: `json` is then the tombstone, and this
    /// the SHA-256 of the JSON that was appended, which the chain link covers.
    public var redactedDigest: [UInt8]?

    /// The digest the chain link covers: the original payload's, redacted or not.
    public var payloadDigest: [UInt8] { redactedDigest ?? ChainLink.payloadDigest(json) }

    public init(position: Int64, sequence: Int32, eventType: String, schemaVersion: Int16, codec: PayloadCodec, storedSize: Int,
                providerSequence: Int32?, recordedAtMicroseconds: Int64, chainLink: [UInt8], json: [UInt8], redactedDigest: [UInt8]? = nil) {
        self.redactedDigest = redactedDigest
        self.position = position
        self.sequence = sequence
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.codec = codec
        self.storedSize = storedSize
        self.providerSequence = providerSequence
        self.recordedAtMicroseconds = recordedAtMicroseconds
        self.chainLink = chainLink
        self.json = json
    }

    public var recordedAt: Date { PostgresTime.date(microseconds: recordedAtMicroseconds) }
}

/// Many consecutive events of one session packed column by column and
/// compressed as one LZ4 block: deltas that cost 3× their JSON as hot rows
/// share their keys, item ids and neighbours' words inside one block.
///
/// Packed layout (version 1), every integer an unsigned LEB128 varint unless
/// said otherwise:
///
///     "OSEG" 0x01
///     count, first sequence (sequences are first…first+count-1, dense)
///     type dictionary: n, then n × (length, UTF-8)
///     positions: first, then count-1 increasing deltas
///     recorded-at: first as zig-zag, then count-1 zig-zag deltas (µs since 2000)
///     schema versions, type indexes, provider sequences (0 = none, else value+1),
///     codecs (1 byte each), stored sizes, flags (1 byte each: 0 plain, 1 redacted),
///     JSON lengths
///     the chain link before the first event, and the last event's: 2 × 32 bytes
///     for each redacted event, in order: the SHA-256 of its original JSON (32 bytes)
///     JSON: the payloads back to back (a redacted event's: its tombstone)
///
/// Every event's own chain link is derived, not stored: link(n) follows from
/// link(n-1), its sequence, its type and its payload's digest (`ChainLink`),
/// so unpacking recomputes each from the link before the first event and
/// checks that the last one comes out as stored. A segment whose events were
/// altered (its digest recomputed to match) does not unpack. Storing the links
/// would add 32 random, incompressible bytes to every event, about as much as
/// a compressed delta itself.
///
/// A redacted event keeps its chain: its link is computed from the digest kept
/// for it, and its JSON is the tombstone that names the redaction.
public struct EventSegment: Sendable, Equatable {
    public static let magic: [UInt8] = Array("OSEG".utf8)
    public static let version: UInt8 = 1
    /// What `compress` puts in the stored row's `codec` column.
    public static let codecLZ4 = 1

    public var events: [SegmentEvent]
    /// The chain link of the event before the first (`ChainLink.genesis` for event 1).
    public var previousLink: [UInt8]

    /// Events must be consecutive and their links must follow from
    /// `previousLink` and their contents (the compactor verified them).
    public init(events: [SegmentEvent], previousLink: [UInt8]) throws {
        guard let first = events.first else { throw SegmentFormatError.empty }
        var link = previousLink
        for (index, event) in events.enumerated() {
            guard event.sequence == first.sequence + Int32(index) else {
                throw SegmentFormatError.notConsecutive(expected: first.sequence + Int32(index), found: event.sequence)
            }
            link = ChainLink.next(previous: link, sequence: event.sequence, eventType: event.eventType, payloadDigest: event.payloadDigest)
            guard link == event.chainLink else { throw SegmentFormatError.brokenChain(sequence: event.sequence) }
        }
        self.events = events
        self.previousLink = previousLink
    }

    private init(verified events: [SegmentEvent], previousLink: [UInt8]) {
        self.events = events
        self.previousLink = previousLink
    }

    public var firstSequence: Int32 { events[0].sequence }
    public var lastSequence: Int32 { events[events.count - 1].sequence }
    public var firstPosition: Int64 { events.lazy.map(\.position).min()! }
    public var lastPosition: Int64 { events.lazy.map(\.position).max()! }
    /// The payloads' JSON, summed: what the segment stands for.
    public var jsonSize: Int { events.reduce(0) { $0 + $1.json.count } }

    // MARK: Packing

    /// The packed, uncompressed bytes.
    public func packed() -> [UInt8] {
        var writer = SegmentWriter()
        writer.bytes.reserveCapacity(jsonSize + events.count * 48 + 64)
        writer.raw(Self.magic)
        writer.raw([Self.version])
        writer.varint(UInt64(events.count))
        writer.varint(UInt64(UInt32(bitPattern: firstSequence)))
        var dictionary: [String] = []
        var indexOf: [String: Int] = [:]
        for event in events where indexOf[event.eventType] == nil {
            indexOf[event.eventType] = dictionary.count
            dictionary.append(event.eventType)
        }
        writer.varint(UInt64(dictionary.count))
        for type in dictionary {
            writer.varint(UInt64(type.utf8.count))
            writer.raw(type.utf8)
        }
        // Positions of one session rise, but not by one (other sessions interleave).
        var previous = events[0].position
        writer.varint(UInt64(previous))
        for event in events.dropFirst() {
            writer.signed(event.position - previous)
            previous = event.position
        }
        var previousTime = events[0].recordedAtMicroseconds
        writer.signed(previousTime)
        for event in events.dropFirst() {
            writer.signed(event.recordedAtMicroseconds &- previousTime)
            previousTime = event.recordedAtMicroseconds
        }
        for event in events { writer.varint(UInt64(UInt16(bitPattern: event.schemaVersion))) }
        for event in events { writer.varint(UInt64(indexOf[event.eventType]!)) }
        for event in events { writer.varint(event.providerSequence.map { UInt64(UInt32(bitPattern: $0)) + 1 } ?? 0) }
        for event in events { writer.raw([UInt8(truncatingIfNeeded: event.codec.rawValue)]) }
        for event in events { writer.varint(UInt64(event.storedSize)) }
        for event in events { writer.raw([event.redactedDigest == nil ? 0 : 1]) }
        for event in events { writer.varint(UInt64(event.json.count)) }
        writer.raw(previousLink)
        writer.raw(events[events.count - 1].chainLink)
        for event in events { if let digest = event.redactedDigest { writer.raw(digest) } }
        for event in events { writer.raw(event.json) }
        return writer.bytes
    }

    /// Reads packed bytes back, checking every count and length against what is left.
    public static func unpack(_ bytes: [UInt8]) throws -> EventSegment {
        var reader = SegmentReader(bytes)
        guard Array(try reader.take(4)) == magic else { throw SegmentFormatError.badMagic }
        let version = try reader.byte()
        guard version == Self.version else { throw SegmentFormatError.unsupportedVersion(version) }
        // Every event takes at least a byte in each of its nine columns.
        let count = try reader.count(atMost: bytes.count / 9)
        guard count > 0 else { throw SegmentFormatError.empty }
        let firstValue = try reader.varint()
        guard firstValue >= 1, firstValue <= UInt64(Int32.max) - UInt64(count) + 1 else {
            throw SegmentFormatError.outOfRange(what: "first sequence \(firstValue)", at: reader.offset)
        }
        let first = Int32(firstValue)
        let typeCount = try reader.count(atMost: count)
        var types: [String] = []
        for _ in 0..<typeCount {
            let length = try reader.count(atMost: 1024)
            types.append(String(decoding: try reader.take(length), as: UTF8.self))
        }
        var positions = [Int64](repeating: 0, count: count)
        let firstPosition = try reader.varint()
        guard firstPosition <= UInt64(Int64.max) else { throw SegmentFormatError.outOfRange(what: "position", at: reader.offset) }
        positions[0] = Int64(firstPosition)
        for index in 1..<count {
            let (next, overflow) = positions[index - 1].addingReportingOverflow(try reader.signed())
            guard !overflow, next >= 1 else { throw SegmentFormatError.outOfRange(what: "position", at: reader.offset) }
            positions[index] = next
        }
        var times = [Int64](repeating: 0, count: count)
        times[0] = try reader.signed()
        for index in 1..<count { times[index] = times[index - 1] &+ (try reader.signed()) }
        var schemaVersions: [Int16] = []
        for _ in 0..<count {
            let value = try reader.varint()
            guard value <= UInt64(Int16.max), value >= 1 else { throw SegmentFormatError.outOfRange(what: "schema version \(value)", at: reader.offset) }
            schemaVersions.append(Int16(value))
        }
        var typeIndexes: [Int] = []
        for _ in 0..<count {
            let index = try reader.count(atMost: max(types.count - 1, 0))
            guard index < types.count else { throw SegmentFormatError.outOfRange(what: "type index \(index)", at: reader.offset) }
            typeIndexes.append(index)
        }
        var providerSequences: [Int32?] = []
        for _ in 0..<count {
            let value = try reader.varint()
            guard value <= UInt64(Int32.max) + 1 else { throw SegmentFormatError.outOfRange(what: "provider sequence", at: reader.offset) }
            providerSequences.append(value == 0 ? nil : Int32(value - 1))
        }
        var codecs: [PayloadCodec] = []
        for _ in 0..<count {
            let value = try reader.byte()
            guard let codec = PayloadCodec(rawValue: Int16(value)) else { throw SegmentFormatError.outOfRange(what: "codec \(value)", at: reader.offset) }
            codecs.append(codec)
        }
        var storedSizes: [Int] = []
        for _ in 0..<count { storedSizes.append(try reader.count(atMost: Int(Int32.max))) }
        var redacted: [Bool] = []
        for _ in 0..<count {
            let flags = try reader.byte()
            guard flags <= 1 else { throw SegmentFormatError.outOfRange(what: "flags \(flags)", at: reader.offset) }
            redacted.append(flags == 1)
        }
        var lengths: [Int] = []
        for _ in 0..<count { lengths.append(try reader.count(atMost: bytes.count)) }
        let previousLink = Array(try reader.take(32))
        let lastLink = Array(try reader.take(32))
        var digests: [Int: [UInt8]] = [:]
        for index in 0..<count where redacted[index] { digests[index] = Array(try reader.take(32)) }
        var link = previousLink
        var events: [SegmentEvent] = []
        events.reserveCapacity(count)
        for index in 0..<count {
            let sequence = first + Int32(index), type = types[typeIndexes[index]]
            let json = Array(try reader.take(lengths[index]))
            let redactedDigest = digests[index]
            link = ChainLink.next(previous: link, sequence: sequence, eventType: type, payloadDigest: redactedDigest ?? ChainLink.payloadDigest(json))
            events.append(SegmentEvent(
                position: positions[index], sequence: sequence, eventType: type,
                schemaVersion: schemaVersions[index], codec: codecs[index], storedSize: storedSizes[index],
                providerSequence: providerSequences[index], recordedAtMicroseconds: times[index], chainLink: link, json: json,
                redactedDigest: redactedDigest
            ))
        }
        guard reader.isAtEnd else { throw SegmentFormatError.trailingBytes(bytes.count - reader.offset) }
        guard link == lastLink else { throw SegmentFormatError.brokenChain(sequence: first + Int32(count) - 1) }
        return EventSegment(verified: events, previousLink: previousLink)
    }

    // MARK: Storing

    /// The segment as it is stored: the LZ4 block of the packed bytes, their
    /// length (LZ4 needs it to decode) and the SHA-256 of the block, which the
    /// verifier and the partition-drop audit name.
    public func compressed() throws -> StoredSegment {
        let packed = packed()
        // Written once, read many times: LZ4's slower, tighter search; the block decodes as fast.
        let body = try LZ4Block.compressHigh(packed)
        return StoredSegment(firstSequence: firstSequence, lastSequence: lastSequence, firstPosition: firstPosition,
                             lastPosition: lastPosition, eventCount: events.count, packedSize: packed.count,
                             jsonSize: jsonSize, body: body, digest: Array(SHA256.hash(data: body)),
                             firstRecordedAtMicroseconds: events.lazy.map(\.recordedAtMicroseconds).min()!,
                             lastRecordedAtMicroseconds: events.lazy.map(\.recordedAtMicroseconds).max()!)
    }
}

/// A segment's row in `outline_event_segments`.
public struct StoredSegment: Sendable, Equatable {
    public var firstSequence: Int32
    public var lastSequence: Int32
    public var firstPosition: Int64
    public var lastPosition: Int64
    public var eventCount: Int
    public var packedSize: Int
    public var jsonSize: Int
    public var body: [UInt8]
    public var digest: [UInt8]
    public var firstRecordedAtMicroseconds: Int64
    public var lastRecordedAtMicroseconds: Int64

    public init(firstSequence: Int32, lastSequence: Int32, firstPosition: Int64, lastPosition: Int64, eventCount: Int,
                packedSize: Int, jsonSize: Int, body: [UInt8], digest: [UInt8],
                firstRecordedAtMicroseconds: Int64 = 0, lastRecordedAtMicroseconds: Int64 = 0) {
        self.firstRecordedAtMicroseconds = firstRecordedAtMicroseconds
        self.lastRecordedAtMicroseconds = lastRecordedAtMicroseconds
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.firstPosition = firstPosition
        self.lastPosition = lastPosition
        self.eventCount = eventCount
        self.packedSize = packedSize
        self.jsonSize = jsonSize
        self.body = body
        self.digest = digest
    }

    /// Decompresses and unpacks, checking the digest and the row's own columns
    /// against what the body holds: a segment altered in place is an error.
    public func segment() throws -> EventSegment {
        guard Array(SHA256.hash(data: body)) == digest else { throw SegmentFormatError.outOfRange(what: "body (its SHA-256 is not the stored digest)", at: 0) }
        let packed: [UInt8]
        do {
            packed = try LZ4Block.decompress(body, originalSize: packedSize)
        } catch {
            throw SegmentFormatError.outOfRange(what: "LZ4 block (\(error))", at: 0)
        }
        let segment = try EventSegment.unpack(packed)
        guard segment.firstSequence == firstSequence, segment.lastSequence == lastSequence, segment.events.count == eventCount else {
            throw SegmentFormatError.outOfRange(what: "event range \(segment.firstSequence)…\(segment.lastSequence) (the row says \(firstSequence)…\(lastSequence))", at: 0)
        }
        return segment
    }
}
