import EventLog
import Foundation
import Testing

@Suite("Event segments: the packed layout")
struct EventSegmentTests {
    static let previous = [UInt8](repeating: 0xA5, count: 32)

    /// Consecutive events whose links chain from `previous`, with every column varied.
    static func events(count: Int, first: Int32 = 1, seed: UInt64 = 1) -> [SegmentEvent] {
        var random = seed
        func next() -> UInt64 {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return random >> 33
        }
        var position = Int64(1 + next() % 1000)
        var time = Int64(849_000_000_000_000) + Int64(next() % 1_000_000)
        let types = ["session.started", "research.output_text.delta", "research.web_search", "session.completed"]
        var link = previous
        return (0..<count).map { index in
            position += Int64(1 + next() % 50)
            time += Int64(next() % 20_000)
            let json = Array(#"{"delta":"word\#(index) ’s \#(next() % 97)","itemId":"msg_1","outputIndex":0}"#.utf8)
            let type = types[Int(next() % UInt64(types.count))]
            link = ChainLink.next(previous: link, sequence: first + Int32(index), eventType: type, json: json)
            return SegmentEvent(
                position: position, sequence: first + Int32(index), eventType: type,
                schemaVersion: Int16(1 + next() % 2), codec: next() % 3 == 0 ? .lz4JSON : .rawJSON, storedSize: json.count - Int(next() % 10),
                providerSequence: next() % 4 == 0 ? nil : Int32(next() % 100_000), recordedAtMicroseconds: time,
                chainLink: link, json: json
            )
        }
    }

    @Test("every column of every event survives packing, compression and unpacking", arguments: [1, 2, 7, 4096])
    func roundTrip(count: Int) throws {
        let events = Self.events(count: count, first: 17, seed: UInt64(count))
        let segment = try EventSegment(events: events, previousLink: Self.previous)
        #expect(try EventSegment.unpack(segment.packed()) == segment)
        let stored = try segment.compressed()
        #expect(stored.firstSequence == 17 && stored.lastSequence == 17 + Int32(count) - 1)
        #expect(stored.firstPosition == events[0].position && stored.lastPosition == events[count - 1].position)
        #expect(try stored.segment().events == events)
        #expect(try stored.segment().events.map(\.recordedAt) == events.map(\.recordedAt))
    }

    @Test("many events compress as one block, far below their JSON")
    func compresses() throws {
        let stored = try EventSegment(events: Self.events(count: 2000), previousLink: Self.previous).compressed()
        #expect(stored.body.count < stored.packedSize / 2)
        #expect(stored.body.count < stored.jsonSize / 2)
    }

    @Test("links are derived: a segment whose links do not follow is refused, and one altered inside (digest made to match) does not unpack")
    func derivedLinks() throws {
        var events = Self.events(count: 20)
        events[7].chainLink[0] ^= 1
        #expect(throws: SegmentFormatError.brokenChain(sequence: 8)) { try EventSegment(events: events, previousLink: Self.previous) }
        #expect(throws: SegmentFormatError.brokenChain(sequence: 1)) { try EventSegment(events: Self.events(count: 3), previousLink: ChainLink.genesis) }
        // An attacker edits one payload in the packed bytes and stores a fresh digest.
        let segment = try EventSegment(events: Self.events(count: 20), previousLink: Self.previous)
        var packed = segment.packed()
        let victim = try #require(packed.lastIndex(of: UInt8(ascii: "w")))
        packed[victim] = UInt8(ascii: "W")
        #expect(throws: SegmentFormatError.brokenChain(sequence: 20)) { try EventSegment.unpack(packed) }
    }

    @Test("gaps and empty segments are refused")
    func refusesGaps() throws {
        var events = Self.events(count: 3)
        events[2].sequence = 9
        #expect(throws: SegmentFormatError.notConsecutive(expected: 3, found: 9)) { try EventSegment(events: events, previousLink: Self.previous) }
        #expect(throws: SegmentFormatError.empty) { try EventSegment(events: [], previousLink: Self.previous) }
    }

    @Test("a changed byte of the stored body is caught by its digest; damaged packed bytes are errors, never traps")
    func damage() throws {
        let segment = try EventSegment(events: Self.events(count: 50), previousLink: Self.previous)
        var stored = try segment.compressed()
        stored.body[stored.body.count / 2] ^= 0x40
        #expect(throws: SegmentFormatError.self) { try stored.segment() }
        let packed = segment.packed()
        // Every truncation, and a byte flipped at every offset, either decodes to
        // something else or throws: it must not crash or allocate without bound.
        for cut in stride(from: 0, to: packed.count, by: 7) {
            #expect(throws: SegmentFormatError.self) { try EventSegment.unpack(Array(packed[..<cut])) }
        }
        for offset in 0..<min(packed.count, 600) {
            var flipped = packed
            flipped[offset] ^= 0xFF
            _ = try? EventSegment.unpack(flipped)
        }
        #expect(throws: SegmentFormatError.self) { try EventSegment.unpack(packed + [0]) }
        #expect(throws: SegmentFormatError.badMagic) { try EventSegment.unpack(Array("NOPE".utf8) + packed.dropFirst(4)) }
    }
}
