import CLZ4

/// LZ4 block compression, the format event payloads are stored in.
///
/// A block carries no length header: the caller stores the uncompressed size
/// beside it (the events table's `raw_size`), which is what `decompress` needs.
public enum LZ4Block {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case inputTooLarge(Int)
        case corrupt(expectedSize: Int)

        public var description: String {
            switch self {
            case .inputTooLarge(let size): "LZ4 cannot compress \(size) bytes in one block (limit \(LZ4_MAX_INPUT_SIZE))"
            case .corrupt(let size): "the LZ4 block is corrupt or truncated (it should hold \(size) bytes)"
            }
        }
    }

    /// Compresses `input` into a new block.
    public static func compress(_ input: [UInt8]) throws -> [UInt8] {
        try input.withUnsafeBytes { source in
            guard source.count <= Int(LZ4_MAX_INPUT_SIZE) else { throw Failure.inputTooLarge(source.count) }
            let bound = Int(LZ4_compressBound(Int32(source.count)))
            return [UInt8](unsafeUninitializedCapacity: max(bound, 1)) { destination, written in
                let size = LZ4_compress_default(
                    source.baseAddress?.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(destination.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(source.count),
                    Int32(bound)
                )
                written = Int(max(size, 0))
            }
        }
    }

    /// Compresses `input` with LZ4's high-compression search (`level` 3…12):
    /// slower to write, the same block format and the same decoding speed.
    /// For data written once and read many times (compacted segments).
    public static func compressHigh(_ input: [UInt8], level: Int32 = 9) throws -> [UInt8] {
        try input.withUnsafeBytes { source in
            guard source.count <= Int(LZ4_MAX_INPUT_SIZE) else { throw Failure.inputTooLarge(source.count) }
            let bound = Int(LZ4_compressBound(Int32(source.count)))
            return [UInt8](unsafeUninitializedCapacity: max(bound, 1)) { destination, written in
                let size = LZ4_compress_HC(
                    source.baseAddress?.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(destination.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(source.count),
                    Int32(bound),
                    level
                )
                written = Int(max(size, 0))
            }
        }
    }

    /// Decompresses a block that must expand to exactly `originalSize` bytes;
    /// anything else (corruption, truncation, a wrong size) is `Failure.corrupt`.
    public static func decompress(_ block: [UInt8], originalSize: Int) throws -> [UInt8] {
        guard originalSize >= 0, originalSize <= Int(LZ4_MAX_INPUT_SIZE) else { throw Failure.corrupt(expectedSize: originalSize) }
        return try block.withUnsafeBytes { source in
            var failed = false
            let output = [UInt8](unsafeUninitializedCapacity: max(originalSize, 1)) { destination, written in
                let size = LZ4_decompress_safe(
                    source.baseAddress?.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(destination.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(source.count),
                    Int32(originalSize)
                )
                failed = size != Int32(originalSize)
                written = failed ? 0 : originalSize
            }
            if failed { throw Failure.corrupt(expectedSize: originalSize) }
            return output
        }
    }
}
