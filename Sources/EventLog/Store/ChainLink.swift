import Crypto

/// The per-session hash chain that lets an audit prove the log was not altered.
///
/// link(n) = SHA-256( link(n-1) ‖ sequence as 8 bytes big-endian ‖ type length as
/// 4 bytes big-endian ‖ type UTF-8 ‖ SHA-256(raw JSON payload) ), with link(0) = 32
/// zero bytes. It covers the payload through its digest only, so a payload could be
/// redacted later (keeping its digest) without breaking the chain.
public enum ChainLink {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func payloadDigest(_ json: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: json))
    }

    public static func next(previous: [UInt8], sequence: Int32, eventType: String, payloadDigest: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        withUnsafeBytes(of: Int64(sequence).bigEndian) { hasher.update(bufferPointer: $0) }
        let typeBytes = Array(eventType.utf8)
        withUnsafeBytes(of: UInt32(typeBytes.count).bigEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(data: typeBytes)
        hasher.update(data: payloadDigest)
        return Array(hasher.finalize())
    }

    public static func next(previous: [UInt8], sequence: Int32, eventType: String, json: [UInt8]) -> [UInt8] {
        next(previous: previous, sequence: sequence, eventType: eventType, payloadDigest: payloadDigest(json))
    }
}
