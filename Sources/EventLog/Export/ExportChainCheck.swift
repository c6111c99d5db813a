import Foundation

/// Re-hashes an NDJSON export (`LogExport`) without the database: for each
/// session, the links recomputed from the exported payloads and types must
/// equal the exported chain links, in sequence order from 1. Proves an export
/// is complete and unaltered, wherever it travelled.
public struct ExportChainCheck: Sendable {
    public struct Report: Sendable {
        public var sessions = 0
        public var events = 0
        public var breaks: [String] = []
        /// Sessions the export starts after their first event (a time range):
        /// checked from their first exported link on.
        public var partialSessions = 0
        /// Events exported as tombstones (redacted), whose links were checked against their kept digests.
        public var redacted = 0
        public var isIntact: Bool { breaks.isEmpty }
    }

    private struct Progress {
        var sequence: Int32 = 0
        var link = ChainLink.genesis
        var broken = false
    }

    private var sessions: [String: Progress] = [:]
    private var report = Report()

    public init() {}

    /// Checks one line of the export.
    public mutating func check(line: Substring) {
        check(bytes: Array(line.utf8))
    }

    /// Checks one line given as UTF-8 bytes (what a streaming reader has).
    public mutating func check(bytes line: [UInt8]) {
        // The export's fixed field order is read from the bytes: no JSON parser,
        // no Character processing per line.
        // The fields before the payload (a payload's own keys never count). Their
        // names are camelCase; files exported before 2026-12-04 spell them in snake_case.
        let header = Self.find(Self.payloadKey, in: line).map { Array(line[..<$0]) } ?? line
        let camel = header.starts(with: Self.camelStart)
        guard let session = Self.field(header, camel ? "sessionId" : "session_id").map({ String(decoding: $0, as: UTF8.self) }),
              let sequence = Self.field(header, "sequence").flatMap({ Int32(String(decoding: $0, as: UTF8.self)) }),
              let type = Self.field(header, "type").map({ String(decoding: $0, as: UTF8.self) }),
              let link = Self.field(header, camel ? "chainLink" : "chain_link").flatMap({ Hex.decode(String(decoding: $0, as: UTF8.self)) }) else {
            report.breaks.append("line \(report.events + 1): not an exported event")
            report.events += 1
            return
        }
        report.events += 1
        var progress = sessions[session] ?? { report.sessions += 1; return Progress() }()
        defer { sessions[session] = progress }
        guard !progress.broken else { return }
        if progress.sequence == 0, sequence > 1, link.count == 32 {
            // A time range cut into this session: its first link is the anchor.
            report.partialSessions += 1
            progress.sequence = sequence
            progress.link = link
            return
        }
        guard sequence == progress.sequence + 1 else {
            progress.broken = true
            report.breaks.append("session \(session): sequence \(sequence) follows \(progress.sequence) (missing or reordered events)")
            return
        }
        // The payload exactly as exported: the bytes after "payload": up to the closing brace.
        guard let start = Self.find(Self.payloadKey, in: line), line.last == UInt8(ascii: "}") else {
            progress.broken = true
            report.breaks.append("session \(session) sequence \(sequence): no payload")
            return
        }
        let payload = Array(line[(start + Self.payloadKey.count)..<(line.count - 1)])
        var digest = ChainLink.payloadDigest(payload)
        if let kept = Self.field(header, camel ? "payloadDigest" : "payload_digest").flatMap({ Hex.decode(String(decoding: $0, as: UTF8.self)) }) {
            // Redacted: the payload must be a tombstone naming this digest, which the link covers.
            guard kept.count == 32, Tombstone.redaction(in: payload)?.digest == Hex.encode(kept) else {
                progress.broken = true
                report.breaks.append("session \(session) sequence \(sequence): a payload digest without the tombstone that names it")
                return
            }
            digest = kept
            report.redacted += 1
        }
        let expected = ChainLink.next(previous: progress.link, sequence: sequence, eventType: type, payloadDigest: digest)
        guard expected == link else {
            progress.broken = true
            report.breaks.append("session \(session) sequence \(sequence): the chain link does not match its payload and type (altered or damaged)")
            return
        }
        progress.sequence = sequence
        progress.link = expected
    }

    static let payloadKey = Array("\"payload\":".utf8)
    static let camelStart = Array("{\"sessionId\":".utf8)

    static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard let first = needle.first, bytes.count >= needle.count else { return nil }
        var index = 0
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// The value of a leading field `"name":value` (strings without their quotes).
    static func field(_ line: [UInt8], _ name: String) -> ArraySlice<UInt8>? {
        let key = Array("\"\(name)\":".utf8)
        guard let at = find(key, in: line) else { return nil }
        var start = at + key.count
        if start < line.count, line[start] == UInt8(ascii: "\"") {
            start += 1
            guard let end = line[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            return line[start..<end]
        }
        guard let end = line[start...].firstIndex(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "}") }) else { return nil }
        return line[start..<end]
    }

    public var result: Report { report }
}
