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
            With --anchors FILE (written earlier by `outline-admin anchor`), each anchored event must still carry
            its anchored link: a session rewritten whole, head included, is named (anchored link differs).
            """
    )
    @OptionGroup var database: DatabaseOptions
    @Option(help: "verify only this session (a UUID)") var session: String?
    @Option(help: "also check the links of an anchors file written by `outline-admin anchor`") var anchors: String?

    func validate() throws {
        if let session, UUID(uuidString: session) == nil { throw ValidationError("\(session) is not a session id (a UUID)") }
    }

    func run() async throws {
        let anchored = try anchors.map(AnchorCommand.read)
        let started = Date()
        var report = try await database.withPool { pool in
            let verifier = ChainVerifier(pool: pool)
            var report = if let session { try await verifier.verify(session: UUID(uuidString: session)!) } else { try await verifier.verifyAll() }
            if let anchored {
                let relevant = session.flatMap(UUID.init(uuidString:)).map { id in anchored.filter { $0.sessionId == id } } ?? anchored
                report.breaks += try await ChainAnchor.check(relevant, pool: pool)
                report.anchorsChecked = relevant.count
            }
            return report
        }
        report.breaks.sort { ($0.sessionID.uuidString, $0.sequence) < ($1.sessionID.uuidString, $1.sequence) }
        let seconds = Date().timeIntervalSince(started)
        for failure in report.breaks { print("BROKEN: \(failure)") }
        print(String(format: "checked %d session(s), %lld events, %lld stored bytes (%lld as JSON) in %.2f s: %.0f events/s, %.1f MB/s of JSON",
                     report.sessions, report.events, report.storedBytes, report.rawBytes, seconds,
                     seconds > 0 ? Double(report.events) / seconds : 0, seconds > 0 ? Double(report.rawBytes) / seconds / 1e6 : 0))
        if let checked = report.anchorsChecked { print("checked \(checked) anchor(s) from \(anchors ?? "")") }
        for redacted in report.redactions {
            let r = redacted.redaction
            print("REDACTED: session \(redacted.sessionID.uuidString.lowercased()) event \(redacted.sequence) (\(redacted.eventType)): audit record \(r.map { String($0.audit) } ?? "?"), \(r?.at ?? "?") by \(r?.by ?? "?"): \(r?.reason ?? "?")")
        }
        for removed in report.removed { print("REMOVED: session \(removed.uuidString.lowercased()) left by retention (outline-admin partitions audit)") }
        if report.isIntact && !report.redactions.isEmpty {
            print("intact with \(report.redactions.count) redaction(s): every hash chain verifies, the redacted payloads' digests included")
        } else if report.isIntact {
            print("intact: every hash chain verifies\(report.anchorsChecked != nil ? " and every anchored link is unchanged" : "")")
        } else {
            print("\(Set(report.breaks.map(\.sessionID)).count) of \(report.sessions) session(s) broken; each line names a first broken link and what differs")
            throw ExitCode(1)
        }
    }
}
