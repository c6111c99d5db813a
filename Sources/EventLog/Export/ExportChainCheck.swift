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
        // The export's fixed field order is read directly: no JSON parser per line.
        guard let session = Self.field(line, "session_id").map(String.init), let sequence = Self.field(line, "sequence").flatMap({ Int32($0) }),
              let type = Self.field(line, "type").map(String.init), let link = Self.field(line, "chain_link").map(String.init) else {
            report.breaks.append("line \(report.events + 1): not an exported event")
            report.events += 1
            return
        }
        report.events += 1
        var progress = sessions[session] ?? { report.sessions += 1; return Progress() }()
        defer { sessions[session] = progress }
        guard !progress.broken else { return }
        if progress.sequence == 0, sequence > 1, let start = Hex.decode(link), start.count == 32 {
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
        guard Hex.encode(expected) == link else {
            progress.broken = true
            report.breaks.append("session \(session) sequence \(sequence): the chain link does not match its payload and type (altered or damaged)")
            return
        }
        progress.sequence = sequence
        progress.link = expected
    }

    public var result: Report { report }

    /// The value of a leading field `"name":value` (strings without their quotes).
    static func field(_ line: Substring, _ name: String) -> Substring? {
        guard let key = line.range(of: "\"\(name)\":") else { return nil }
        var rest = line[key.upperBound...]
        if rest.first == "\"" {
            rest = rest.dropFirst()
            guard let end = rest.firstIndex(of: "\"") else { return nil }
            return rest[..<end]
        }
        guard let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) else { return nil }
        return rest[..<end]
    }
}
