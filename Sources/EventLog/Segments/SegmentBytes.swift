/// Little building blocks of the segment format: unsigned LEB128 varints,
/// zig-zag for signed deltas, and a reader that refuses to run past its end.
struct SegmentWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func signed(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func raw<C: Collection>(_ data: C) where C.Element == UInt8 {
        bytes.append(contentsOf: data)
    }
}

/// Reads what `SegmentWriter` wrote; every read past the end, and every varint
/// longer than 64 bits, is `SegmentFormatError.truncated`.
struct SegmentReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw SegmentFormatError.truncated(at: offset) }
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    mutating func signed() throws -> Int64 {
        let value = try varint()
        return Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    /// A varint that must fit `limit` (a count or a length): a corrupt segment
    /// must not make the reader allocate gigabytes.
    mutating func count(atMost limit: Int) throws -> Int {
        let value = try varint()
        guard value <= UInt64(limit) else { throw SegmentFormatError.outOfRange(what: "count or length \(value)", at: offset) }
        return Int(value)
    }

    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw SegmentFormatError.truncated(at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else { throw SegmentFormatError.truncated(at: offset) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }
}

public enum SegmentFormatError: Error, Equatable, CustomStringConvertible {
    case badMagic
    case unsupportedVersion(UInt8)
    case truncated(at: Int)
    case outOfRange(what: String, at: Int)
    case trailingBytes(Int)
    case notConsecutive(expected: Int32, found: Int32)
    case empty
    /// The events' contents no longer lead to the last chain link stored with them.
    case brokenChain(sequence: Int32)

    public var description: String {
        switch self {
        case .badMagic: "not an event segment (bad magic)"
        case .unsupportedVersion(let version): "segment format version \(version) is not one this build reads"
        case .truncated(let offset): "the segment ends early (at byte \(offset))"
        case .outOfRange(let what, let offset): "the segment holds an impossible \(what) (at byte \(offset))"
        case .trailingBytes(let count): "the segment has \(count) bytes after its last event"
        case .notConsecutive(let expected, let found): "a segment holds consecutive events: expected sequence \(expected), found \(found)"
        case .empty: "a segment holds at least one event"
        case .brokenChain(let sequence): "the events no longer lead to the chain link stored for event \(sequence): their contents were altered"
        }
    }
}
