import Crypto
import Foundation
import LZ4

/// Many small finished sessions compacted into one LZ4 block.
///
/// A session of a handful of events alone in a segment keeps more than its
/// JSON: its segment row, its compacted-session row and their index entries
/// cost about 830 bytes, and LZ4 finds little to share inside 600 bytes. In a
/// pack, sessions share one row and one block, and their keys, event types and
/// phrasing are compressed against each other; each keeps only its
/// compacted-session row (which names the pack) and its own chain link.
///
/// Packed layout (version 1), integers as unsigned LEB128 varints:
///
///     "OPAK" 0x01
///     n, then n × (session id: 16 bytes, length of its part)
///     n parts back to back, each a whole `EventSegment` as `packed()` writes it
///
/// The block's SHA-256 is the pack's digest; each part unpacks as its own
/// segment, so it carries and checks its session's chain like any segment.
public struct EventPack: Sendable, Equatable {
    public static let magic: [UInt8] = Array("OPAK".utf8)
    public static let version: UInt8 = 1

    public struct Member: Sendable, Equatable {
        public var session: UUID
        public var segment: EventSegment
        public init(session: UUID, segment: EventSegment) {
            self.session = session
            self.segment = segment
        }
    }

    public var members: [Member]

    public init(members: [Member]) throws {
        guard !members.isEmpty else { throw SegmentFormatError.empty }
        guard Set(members.map(\.session)).count == members.count else {
            throw SegmentFormatError.outOfRange(what: "a session twice in one pack", at: 0)
        }
        self.members = members
    }

    public func segment(of session: UUID) -> EventSegment? {
        members.first { $0.session == session }?.segment
    }

    public var eventCount: Int { members.reduce(0) { $0 + $1.segment.events.count } }
    public var jsonSize: Int { members.reduce(0) { $0 + $1.segment.jsonSize } }

    public func packed() -> [UInt8] {
        let parts = members.map { $0.segment.packed() }
        var writer = SegmentWriter()
        writer.bytes.reserveCapacity(parts.reduce(0) { $0 + $1.count } + members.count * 20 + 8)
        writer.raw(Self.magic)
        writer.raw([Self.version])
        writer.varint(UInt64(members.count))
        for (member, part) in zip(members, parts) {
            writer.raw(withUnsafeBytes(of: member.session.uuid) { Array($0) })
            writer.varint(UInt64(part.count))
        }
        for part in parts { writer.raw(part) }
        return writer.bytes
    }

    /// Reads packed bytes back; every part must unpack as a segment.
    public static func unpack(_ bytes: [UInt8]) throws -> EventPack {
        var reader = SegmentReader(bytes)
        guard Array(try reader.take(4)) == magic else { throw SegmentFormatError.badMagic }
        let version = try reader.byte()
        guard version == Self.version else { throw SegmentFormatError.unsupportedVersion(version) }
        // A member takes at least 17 bytes of directory and a segment's 9 × count + 69.
        let count = try reader.count(atMost: bytes.count / 17)
        guard count > 0 else { throw SegmentFormatError.empty }
        var directory: [(UUID, Int)] = []
        for _ in 0..<count {
            let raw = Array(try reader.take(16))
            let uuid = raw.withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
            directory.append((uuid, try reader.count(atMost: bytes.count)))
        }
        var members: [Member] = []
        for (session, length) in directory {
            members.append(Member(session: session, segment: try EventSegment.unpack(Array(try reader.take(length)))))
        }
        guard reader.isAtEnd else { throw SegmentFormatError.trailingBytes(bytes.count - reader.offset) }
        return try EventPack(members: members)
    }

    public func compressed() throws -> StoredPack {
        let packed = packed()
        let body = try LZ4Block.compressHigh(packed)
        let events = members.flatMap(\.segment.events)
        return StoredPack(
            sessions: members.map(\.session), eventCounts: members.map { $0.segment.events.count },
            firstPosition: events.lazy.map(\.position).min()!, lastPosition: events.lazy.map(\.position).max()!,
            firstRecordedAtMicroseconds: events.lazy.map(\.recordedAtMicroseconds).min()!,
            lastRecordedAtMicroseconds: events.lazy.map(\.recordedAtMicroseconds).max()!,
            eventCount: events.count, packedSize: packed.count, jsonSize: jsonSize, body: body, digest: Array(SHA256.hash(data: body))
        )
    }
}

/// A pack's row in `outline_event_packs`.
public struct StoredPack: Sendable, Equatable {
    public var sessions: [UUID]
    public var eventCounts: [Int]
    public var firstPosition: Int64
    public var lastPosition: Int64
    public var firstRecordedAtMicroseconds: Int64
    public var lastRecordedAtMicroseconds: Int64
    public var eventCount: Int
    public var packedSize: Int
    public var jsonSize: Int
    public var body: [UInt8]
    public var digest: [UInt8]

    /// Checks the digest, decompresses, unpacks, and checks the row's session
    /// list against the block's: a pack altered in place is an error.
    public func pack() throws -> EventPack {
        try Self.pack(body: body, packedSize: packedSize, digest: digest, sessions: sessions)
    }

    public static func pack(body: [UInt8], packedSize: Int, digest: [UInt8], sessions: [UUID]?) throws -> EventPack {
        guard Array(SHA256.hash(data: body)) == digest else { throw SegmentFormatError.outOfRange(what: "pack body (its SHA-256 is not the stored digest)", at: 0) }
        let packed: [UInt8]
        do {
            packed = try LZ4Block.decompress(body, originalSize: packedSize)
        } catch {
            throw SegmentFormatError.outOfRange(what: "LZ4 block (\(error))", at: 0)
        }
        let pack = try EventPack.unpack(packed)
        if let sessions, pack.members.map(\.session) != sessions {
            throw SegmentFormatError.outOfRange(what: "the pack's sessions (the row names others)", at: 0)
        }
        return pack
    }
}
