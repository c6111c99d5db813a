import ArgumentParser
import EventLog
import Foundation

/// `outline-admin export`: one session, a workflow or a time range as NDJSON
/// (or one JSON array), streamed page by page, with progress on a terminal.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export events as NDJSON (one decoded event per line) or JSON, streaming.",
        discussion: """
        Fields: sessionId, sequence, position, type, schemaVersion, recordedAt, providerSequence, chainLink, payloadDigest (redacted events), payload \
        (the stored JSON). Pick one of --session, --workflow, or --since/--until (ISO 8601; both optional: the whole log). \
        `outline-admin export-check FILE` re-hashes an NDJSON export.
        """
    )
    @OptionGroup var database: DatabaseOptions
    @Option(help: "one session (a UUID)") var session: String?
    @Option(help: "every session of this workflow id (in every user's namespace unless --owner names one)") var workflow: String?
    @Option(help: "with --workflow: only the workflow in this user's namespace") var owner: String?
    @Option(help: "events recorded at or after this time (ISO 8601)") var since: String?
    @Option(help: "events recorded before this time (ISO 8601)") var until: String?
    @Option(help: "ndjson or json") var format = "ndjson"
    @Option(name: .shortAndLong, help: "write to this file (default: standard output)") var output: String?

    func validate() throws {
        guard ["ndjson", "json"].contains(format) else { throw ValidationError("--format is ndjson or json") }
        guard [session != nil, workflow != nil, since != nil || until != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("pick one of --session, --workflow, or --since/--until")
        }
        if owner != nil && workflow == nil { throw ValidationError("--owner narrows --workflow; name the workflow too") }
        if let session, UUID(uuidString: session) == nil { throw ValidationError("\(session) is not a session id (a UUID)") }
        for (name, value) in [("--since", since), ("--until", until)] {
            if let value, Self.date(value) == nil { throw ValidationError("\(name) must be an ISO 8601 time such as 2026-11-25T10:00:00Z, not \(value)") }
        }
    }

    /// `[#####-----]  42% 420000/1000000 events, 95000 events/s, 6 s left`
    static func progressText(written: Int64, total: Int64, since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        let seconds = max(0.001, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let fraction = total == 0 ? 1 : min(1, Double(written) / Double(total))
        let filled = Int(fraction * 20)
        let rate = Double(written) / seconds
        let left = rate > 0 ? Double(total - written) / rate : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: 20 - filled) + "] "
            + String(format: "%3.0f%% %lld/%lld events, %.0f events/s, %.0f s left", fraction * 100, written, total, rate, left)
    }

    static func date(_ text: String) -> Date? { TimestampText.parseInput(text) }

    func run() async throws {
        let selection: LogExport.Selection = if let session { .session(UUID(uuidString: session)!) }
            else if let workflow { .workflow(workflow, owner: owner) }
            else { .timeRange(from: since.flatMap(Self.date), to: until.flatMap(Self.date)) }
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil) else { throw AdminFailure("cannot write \(output)") }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        } else {
            handle = FileHandle.standardOutput
        }
        let json = format == "json"
        let (count, exported, elapsed) = try await database.withPool { pool in
            let export = LogExport(store: EventStore(pool: pool))
            let total = try await export.count(selection)
            var progress = ProgressLine()
            if json { handle.write(Data("[\n".utf8)) }
            var written: Int64 = 0
            let started = ContinuousClock.now
            let exported = try await export.run(selection) { page in
                var bytes = page
                if json {
                    // NDJSON lines become array elements: a comma before every line but the first.
                    var converted: [UInt8] = []
                    converted.reserveCapacity(bytes.count + 64)
                    var lineStart = true
                    for byte in bytes {
                        if lineStart, written > 0 || !converted.isEmpty { converted += Array(",".utf8) }
                        if lineStart { lineStart = false }
                        if byte == 0x0A { converted.append(0x0A); lineStart = true } else { converted.append(byte) }
                        if byte == 0x0A { written += 1 }
                    }
                    bytes = converted
                } else {
                    written += Int64(bytes.lazy.filter { $0 == 0x0A }.count)
                }
                handle.write(Data(bytes))
                progress.show(Self.progressText(written: written, total: total, since: started))
            }
            if json { handle.write(Data("]\n".utf8)) }
            progress.show(Self.progressText(written: written, total: total, since: started), final: true)
            return (total, exported, ContinuousClock.now - started)
        }
        if output != nil { try handle.close() }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        FileHandle.standardError.write(Data("exported \(exported) of \(count) events in \(String(format: "%.1f", seconds)) s\(output.map { " to \($0)" } ?? "")\n".utf8))
    }
}

/// `outline-admin export-check FILE`: re-hash an NDJSON export.
struct ExportCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-check",
        abstract: "Re-hash an NDJSON export's chains (no database needed); exit 1 when any link does not match."
    )
    @Argument(help: "the NDJSON file `outline-admin export` wrote") var file: String

    func run() throws {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw AdminFailure("cannot read \(file)") }
        var check = ExportChainCheck()
        // Streamed in 4 MiB chunks: an export of any size is checked in little memory.
        var pending: [UInt8] = []
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            pending += chunk
            guard let lastNewline = pending.lastIndex(of: 0x0A) else { continue }
            for line in pending[...lastNewline].split(separator: 0x0A, omittingEmptySubsequences: true) { check.check(bytes: Array(line)) }
            pending.removeSubrange(...lastNewline)
        }
        if !pending.isEmpty { check.check(bytes: pending) }
        let report = check.result
        print("checked \(report.sessions) session(s), \(report.events) events\(report.partialSessions > 0 ? " (\(report.partialSessions) starting mid-session)" : "")\(report.redacted > 0 ? ", \(report.redacted) redacted (re-hashed through their kept digests)" : "")")
        if report.isIntact {
            print("intact: every exported chain re-hashes to its links")
        } else {
            for failure in report.breaks { print("BROKEN: \(failure)") }
            throw ExitCode(1)
        }
    }
}
