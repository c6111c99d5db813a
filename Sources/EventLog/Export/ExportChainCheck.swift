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
        guard let data = line.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let session = object["session_id"] as? String, let sequence = (object["sequence"] as? NSNumber)?.int32Value,
              let type = object["type"] as? String, let link = object["chain_link"] as? String else {
            report.breaks.append("line \(report.events + 1): not an exported event")
            report.events += 1
            return
        }
        report.events += 1
        var progress = sessions[session] ?? { report.sessions += 1; return Progress() }()
        defer { sessions[session] = progress }
        guard !progress.broken else { return }
        if progress.sequence == 0, sequence > 1, let start = Self.bytes(hex: link) {
            // A time range cut into this session: its first link is the anchor.
            report.partialSessions += 1
            progress.sequence = sequence
            progress.link = start
            return
        }
        guard sequence == progress.sequence + 1 else {
            progress.broken = true
            report.breaks.append("session \(session): sequence \(sequence) follows \(progress.sequence) (missing or reordered events)")
            return
        }
        // The payload exactly as exported: the bytes after "payload": up to the closing brace.
        guard let range = line.range(of: "\"payload\":") else {
            progress.broken = true
            report.breaks.append("session \(session) sequence \(sequence): no payload")
            return
        }
        let payload = Array(line[range.upperBound...].dropLast().utf8)
        let expected = ChainLink.next(previous: progress.link, sequence: sequence, eventType: type, json: payload)
        let hex = expected.map { String(format: "%02x", $0) }.joined()
        guard hex == link else {
            progress.broken = true
            report.breaks.append("session \(session) sequence \(sequence): the chain link does not match its payload and type (altered or damaged)")
            return
        }
        progress.sequence = sequence
        progress.link = expected
    }

    public var result: Report { report }

    static func bytes(hex: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes.count == 32 ? bytes : nil
    }
}
