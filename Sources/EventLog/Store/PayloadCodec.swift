import LZ4

/// How a payload's bytes are stored; the `codec` column, so decoding never guesses.
public enum PayloadCodec: Int16, Sendable, CaseIterable {
    case rawJSON = 0
    case lz4JSON = 1

    /// Payloads smaller than this stay raw: LZ4 on a tiny delta saves a few bytes
    /// at best, and compressing many events together is a later step.
    public static let compressionThreshold = 512

    /// The bytes to store for `json`: LZ4 when that is smaller, raw otherwise.
    public static func encode(_ json: [UInt8]) -> (codec: PayloadCodec, bytes: [UInt8]) {
        guard json.count >= compressionThreshold, let block = try? LZ4Block.compress(json), block.count < json.count else {
            return (.rawJSON, json)
        }
        return (.lz4JSON, block)
    }

    /// The JSON back from stored bytes; `rawSize` is the JSON's length as stored.
    public func decode(_ stored: [UInt8], rawSize: Int) throws -> [UInt8] {
        switch self {
        case .rawJSON:
            guard stored.count == rawSize else { throw PayloadCodecError.sizeMismatch(stored: stored.count, expected: rawSize) }
            return stored
        case .lz4JSON:
            do {
                return try LZ4Block.decompress(stored, originalSize: rawSize)
            } catch {
                throw PayloadCodecError.corruptBlock(String(describing: error))
            }
        }
    }
}

public enum PayloadCodecError: Error, Equatable, CustomStringConvertible {
    case unknownCodec(Int16)
    case sizeMismatch(stored: Int, expected: Int)
    case corruptBlock(String)

    public var description: String {
        switch self {
        case .unknownCodec(let code): "unknown payload codec \(code)"
        case .sizeMismatch(let stored, let expected): "raw payload is \(stored) bytes, the row says \(expected)"
        case .corruptBlock(let why): why
        }
    }
}
