import ArgumentParser
import EventLog
import Foundation

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Walk the hash chains of one session or of the whole log; exit 1 on the first broken link of any session."
    )
    @OptionGroup var database: DatabaseOptions
    @Option(help: "verify only this session (a UUID)") var session: String?

    func validate() throws {
        if let session, UUID(uuidString: session) == nil { throw ValidationError("\(session) is not a session id (a UUID)") }
    }

    func run() async throws {
        let report = try await database.withPool { pool in
            let verifier = ChainVerifier(pool: pool)
            if let session { return try await verifier.verify(session: UUID(uuidString: session)!) }
            return try await verifier.verifyAll()
        }
        print("checked \(report.sessions) session(s), \(report.events) events, \(report.storedBytes) stored bytes (\(report.rawBytes) as JSON)")
        if report.isIntact {
            print("intact: every hash chain verifies")
        } else {
            for failure in report.breaks { print("BROKEN: \(failure)") }
            throw ExitCode(1)
        }
    }
}
