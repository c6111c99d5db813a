import Foundation

/// A position in a session read as a Durable Stream (protocol 1.0 §6): the
/// sequence of the last event before it, written as ten decimal digits, so
/// that tokens sort lexicographically as the sequences do, are URL-safe, and
/// never read as the sentinels `-1` (the beginning) or `now` (the tail).
/// Offset `0000000042` is "after event 42": a read from it starts at event 43.
enum DurableStreamOffset: Equatable, Sendable {
    case after(Int32)
    case now

    static let digits = 10

    /// The token for "after `sequence`" (what `Stream-Next-Offset` carries).
    static func token(_ sequence: Int32) -> String {
        let text = String(max(0, sequence))
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// A client's `offset` parameter; nil when absent. A malformed token is a
    /// 400 that says what a token looks like.
    static func parse(_ text: String?) throws -> DurableStreamOffset? {
        guard let text else { return nil }
        if text == "-1" { return .after(0) }
        if text == "now" { return .now }
        guard text.utf8.count == digits, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = Int64(text), value <= Int64(Int32.max) else {
            throw APIError.invalid("offset", "offset is -1 (the beginning), now (the tail) or a Stream-Next-Offset this server sent (ten digits); got \(String(text.prefix(40)).debugDescription).",
                                   code: "invalid_offset")
        }
        return .after(Int32(value))
    }
}

/// `Stream-Cursor` (protocol §8.1): the number of 20-second intervals since
/// 2024-10-09T00:00:00Z, always greater than the cursor the client echoed, so
/// that a CDN collapsing long-polls never serves one cached answer forever.
enum DurableStreamCursor {
    static let epoch = Date(timeIntervalSince1970: 1_728_432_000)
    static let interval: TimeInterval = 20

    static func next(echoed: String?, now: Date = Date()) -> String {
        let current = Int64(max(0, now.timeIntervalSince(epoch)) / interval)
        guard let echoed, echoed.utf8.count <= 19, let given = Int64(echoed), given >= current, given < Int64.max - 200 else { return String(current) }
        // 1 to 3600 seconds of jitter, in whole intervals (at least one).
        return String(given + Int64.random(in: 1...180))
    }
}
