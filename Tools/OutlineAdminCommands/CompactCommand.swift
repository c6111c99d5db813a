import ArgumentParser
import EventLog
import Foundation

/// `outline-admin compact`: what the instances' background pass does, by hand
/// and with a progress bar (for a backlog after a migration, or before
/// dropping partitions). Safe beside running instances and when interrupted.
struct CompactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Pack finished sessions' events into LZ4 segments, one session per transaction.",
        discussion: """
            A session is compacted once it has ended (completed, failed, cancelled) and its last event is at
            least --settle-seconds old. Its chain is verified first; a session that does not verify stays hot
            and is listed (exit 1). Readers (SSE, replay, /events, export, verify, rebuilds) read segments and
            hot rows alike, so nothing changes for them. The hot rows stay until their partition is dropped.
            Safe to run twice, beside running instances (they compact too), and to interrupt.
            """
    )
    @OptionGroup var database: DatabaseOptions
    @Option(help: "compact only this session (a UUID)") var session: String?
    @Option(help: "only sessions whose last event is at least this old (default 0)") var settleSeconds: Int = 0
    @Option(help: "at most this many sessions") var limit: Int?
    @Option(help: "events per segment (default 4096)") var eventsPerSegment: Int = 4096

    func validate() throws {
        if let session, UUID(uuidString: session) == nil { throw ValidationError("\(session) is not a session id (a UUID)") }
        guard (0...31_536_000).contains(settleSeconds) else { throw ValidationError("--settle-seconds must be between 0 and 31536000") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard (1...1_000_000).contains(eventsPerSegment) else { throw ValidationError("--events-per-segment must be between 1 and 1000000") }
    }

    func run() async throws {
        let started = ContinuousClock.now
        let summary = try await database.withPool { pool in
            let compactor = Compactor(pool: pool, eventsPerSegment: eventsPerSegment, logger: AdminLogging.logger)
            if let session {
                var summary = Compactor.Summary()
                switch try await compactor.compact(session: UUID(uuidString: session)!) {
                case .compacted(let done):
                    summary.sessions = 1; summary.events = done.events; summary.jsonSize = done.jsonSize; summary.storedSize = done.storedSize
                case .alreadyCompacted: print("session \(session) is already compacted"); summary.skipped = 1
                case .notFinished: print("session \(session) has not ended (or has no events): nothing to compact"); summary.skipped = 1
                case .chainBroken(let why): print("NOT COMPACTED: session \(session): its chain does not verify: \(why)"); summary.broken = [UUID(uuidString: session)!]
                }
                return summary
            }
            let total = min(try await compactor.pendingCount(settled: .seconds(settleSeconds)), limit ?? .max)
            var line = ProgressLine()
            let summary = try await compactor.compactPending(settled: .seconds(settleSeconds), limit: limit ?? .max) { summary in
                line.show(Self.progressText(summary, total: total, since: started))
            }
            if total > 0 { line.show(Self.progressText(summary, total: total, since: started), final: true) }
            return summary
        }
        let seconds = (ContinuousClock.now - started).secondsValue
        print(String(format: "compacted %d session(s) (%d of them small, into %d pack(s)), %d events: %lld bytes of JSON into %lld bytes of segments (%.1f%%) in %.2f s, %.0f events/s",
                     summary.sessions, summary.packedSessions, summary.packs, summary.events, Int64(summary.jsonSize), Int64(summary.storedSize),
                     summary.jsonSize > 0 ? 100 * Double(summary.storedSize) / Double(summary.jsonSize) : 0, seconds,
                     seconds > 0 ? Double(summary.events) / seconds : 0))
        for broken in summary.broken where session == nil { print("NOT COMPACTED: session \(broken.uuidString.lowercased()): its chain does not verify (run outline-admin verify --session)") }
        if !summary.broken.isEmpty { throw ExitCode(1) }
    }

    static func progressText(_ summary: Compactor.Summary, total: Int, since start: ContinuousClock.Instant) -> String {
        let done = summary.sessions + summary.skipped
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = (ContinuousClock.now - start).secondsValue
        return String(format: "[%@%@] %d/%d sessions, %d events, %.0f events/s",
                      String(repeating: "#", count: filled), String(repeating: ".", count: width - filled),
                      done, total, summary.events, elapsed > 0 ? Double(summary.events) / elapsed : 0)
    }
}

extension Duration {
    fileprivate var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
