/// A reader for the flat JSON objects deltas are, in the log and on the
/// provider's wire: string, integer, null and empty-array values only. The log
/// holds deltas by the million, a rebuild reads them all, and a live run receives
/// them by the thousand; this reads one in a fraction of what the generic decoder
/// takes. Anything else (nesting, floats, a key twice, malformed text) returns
/// nil, and the caller falls back to the generic decoder, which also reports
/// errors properly.
public struct FlatJSONObject {
    public enum Value: Equatable, Sendable {
        case string(String)
        case integer(Int64)
        case null
        /// `[]` (the provider's `"logprobs":[]`).
        case emptyArray
    }

    public private(set) var fields: [(key: String, value: Value)] = []

    public init?(_ bytes: [UInt8]) {
        var reader = Reader(bytes: bytes)
        guard reader.parseObject(into: &fields) else { return nil }
        // A key twice: which one counts is the generic decoder's business.
        for (index, field) in fields.enumerated() where fields[..<index].contains(where: { $0.key == field.key }) { return nil }
    }

    public func string(_ key: String) -> String? {
        for field in fields where field.key == key {
            if case .string(let value) = field.value { return value }
        }
        return nil
    }

    /// nil when absent or null; `.some(nil)` is never returned, so callers that
    /// need "present but wrong type" fall back to the generic decoder.
    public func integer(_ key: String) -> Int64? {
        for field in fields where field.key == key {
            if case .integer(let value) = field.value { return value }
        }
        return nil
    }

    public func has(_ key: String) -> Bool { fields.contains { $0.key == key } }

    public func isNullOrAbsent(_ key: String) -> Bool {
        guard let field = fields.first(where: { $0.key == key }) else { return true }
        return field.value == .null
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSpace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 }
        }

        mutating func expect(_ byte: UInt8) -> Bool {
            skipSpace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func parseObject(into fields: inout [(key: String, value: Value)]) -> Bool {
            guard expect(UInt8(ascii: "{")) else { return false }
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return atEnd()
            }
            while true {
                skipSpace()
                guard let key = parseString(), expect(UInt8(ascii: ":")) else { return false }
                skipSpace()
                guard index < bytes.count else { return false }
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard let value = parseString() else { return false }
                    fields.append((key, .string(value)))
                case UInt8(ascii: "n"):
                    guard index + 4 <= bytes.count, bytes[index..<(index + 4)].elementsEqual("null".utf8) else { return false }
                    index += 4
                    fields.append((key, .null))
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard let value = parseInteger() else { return false }
                    fields.append((key, .integer(value)))
                case UInt8(ascii: "["):
                    index += 1
                    skipSpace()
                    guard expect(UInt8(ascii: "]")) else { return false }
                    fields.append((key, .emptyArray))
                default:
                    return false
                }
                skipSpace()
                guard index < bytes.count else { return false }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "}") else { return false }
                index += 1
                return atEnd()
            }
        }

        mutating func atEnd() -> Bool {
            skipSpace()
            return index == bytes.count
        }

        mutating func parseInteger() -> Int64? {
            var negative = false
            if bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            var value: Int64 = 0
            var digits = 0
            let first = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
                if o1 || o2 { return nil }
                value = sum
                digits += 1
                index += 1
            }
            // A float or exponent is not ours to read.
            // Nor a leading zero (not JSON).
            if digits > 1 && bytes[first] == UInt8(ascii: "0") { return nil }
            if digits == 0 || (index < bytes.count && (bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e"))) { return nil }
            return negative ? -value : value
        }

        mutating func parseString() -> String? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            let start = index
            // Fast path: no escapes.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(validating: bytes[start..<index], as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
                index += 1
            }
            var scratch = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(validating: scratch, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { return nil }
                    let escaped = bytes[index]
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escaped)
                    case UInt8(ascii: "n"): scratch.append(0x0A)
                    case UInt8(ascii: "r"): scratch.append(0x0D)
                    case UInt8(ascii: "t"): scratch.append(0x09)
                    case UInt8(ascii: "b"): scratch.append(0x08)
                    case UInt8(ascii: "f"): scratch.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard var scalar = parseHex4() else { return nil }
                        if scalar >= 0xD800 && scalar < 0xDC00 {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
                            index += 2
                            guard let low = parseHex4(), low >= 0xDC00, low < 0xE000 else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { return nil }
                        scratch.append(contentsOf: String(Character(unicode)).utf8)
                    default:
                        return nil
                    }
                case 0..<0x20:
                    return nil
                default:
                    scratch.append(byte)
                    index += 1
                }
            }
            return nil
        }

        mutating func parseHex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: return nil
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }
    }
}
