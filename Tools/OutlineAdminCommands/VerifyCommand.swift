import ArgumentParser
import EventLog
import Foundation

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Walk the hash chains of one session or of the whole log; exit 1 if any is broken.",
        discussion: """
            Each broken session gets one line: its first broken link (sequence, position) and what differs:
            payload, event_type, sequence, chain_link (the link itself rewritten), missing event, or stream head.
            Later events of a broken session cannot be trusted. The summary counts sessions, events and bytes checked.
            """
    )
    @OptionGroup var database: DatabaseOptions
    @Option(help: "verify only this session (a UUID)") var session: String?

    func validate() throws {
        if let session, UUID(uuidString: session) == nil { throw ValidationError("\(session) is not a session id (a UUID)") }
    }

    func run() async throws {
        let started = Date()
        let report = try await database.withPool { pool in
            let verifier = ChainVerifier(pool: pool)
            if let session { return try await verifier.verify(session: UUID(uuidString: session)!) }
            return try await verifier.verifyAll()
        }
        let seconds = Date().timeIntervalSince(started)
        for failure in report.breaks { print("BROKEN: \(failure)") }
        print(String(format: "checked %d session(s), %lld events, %lld stored bytes (%lld as JSON) in %.2f s: %.0f events/s, %.1f MB/s of JSON",
                     report.sessions, report.events, report.storedBytes, report.rawBytes, seconds,
                     seconds > 0 ? Double(report.events) / seconds : 0, seconds > 0 ? Double(report.rawBytes) / seconds / 1e6 : 0))
        if report.isIntact {
            print("intact: every hash chain verifies")
        } else {
            print("\(report.breaks.count) of \(report.sessions) session(s) broken; each line names the first broken link of its session and what differs")
            throw ExitCode(1)
        }
    }
}
