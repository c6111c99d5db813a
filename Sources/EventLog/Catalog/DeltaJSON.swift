import OutlineJSON

/// Hand-written JSON for the events a live session appends by the thousand
/// (text and reasoning deltas). Same keys, sorted, as the generic encoder writes,
/// at a fraction of its cost: JSONEncoder was a third of the append path's CPU.
/// Decoding reads the flat object directly and falls back to the generic decoder
/// for anything unusual; tests check both directions against the generic coder.
enum DeltaJSON {
    static func decodeOutputTextDelta(_ bytes: [UInt8]) -> OutputTextDelta? {
        guard let object = FlatJSONObject(bytes), let delta = object.string("delta"),
              let outputIndex = object.integer("outputIndex").flatMap(Int32.init(exactly:)),
              let contentIndex = object.integer("contentIndex").flatMap(Int32.init(exactly:)) else { return nil }
        let itemId = object.string("itemId")
        if itemId == nil && !object.isNullOrAbsent("itemId") { return nil }
        let sequence = object.integer("providerSequence").flatMap(Int32.init(exactly:))
        if sequence == nil && !object.isNullOrAbsent("providerSequence") { return nil }
        return OutputTextDelta(itemId: itemId, outputIndex: outputIndex, contentIndex: contentIndex, delta: delta, providerSequence: sequence)
    }

    static func decodeReasoningSummaryDelta(_ bytes: [UInt8]) -> ReasoningSummaryDelta? {
        guard let object = FlatJSONObject(bytes), let delta = object.string("delta"), let itemId = object.string("itemId"),
              let summaryIndex = object.integer("summaryIndex").flatMap(Int32.init(exactly:)) else { return nil }
        let sequence = object.integer("providerSequence").flatMap(Int32.init(exactly:))
        if sequence == nil && !object.isNullOrAbsent("providerSequence") { return nil }
        return ReasoningSummaryDelta(itemId: itemId, summaryIndex: summaryIndex, delta: delta, providerSequence: sequence)
    }

    static func encode(_ delta: OutputTextDelta) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + delta.delta.utf8.count + (delta.itemId?.utf8.count ?? 0))
        out += #"{"contentIndex":"#.utf8
        appendInteger(delta.contentIndex, to: &out)
        out += #","delta":"#.utf8
        appendString(delta.delta, to: &out)
        if let itemId = delta.itemId {
            out += #","itemId":"#.utf8
            appendString(itemId, to: &out)
        }
        out += #","outputIndex":"#.utf8
        appendInteger(delta.outputIndex, to: &out)
        if let sequence = delta.providerSequence {
            out += #","providerSequence":"#.utf8
            appendInteger(sequence, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func encode(_ delta: ReasoningSummaryDelta) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + delta.delta.utf8.count + delta.itemId.utf8.count)
        out += #"{"delta":"#.utf8
        appendString(delta.delta, to: &out)
        out += #","itemId":"#.utf8
        appendString(delta.itemId, to: &out)
        if let sequence = delta.providerSequence {
            out += #","providerSequence":"#.utf8
            appendInteger(sequence, to: &out)
        }
        out += #","summaryIndex":"#.utf8
        appendInteger(delta.summaryIndex, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func appendInteger(_ value: Int32, to out: inout [UInt8]) {
        out += String(value).utf8
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped,
    /// everything else (all of Unicode) written as UTF-8.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
