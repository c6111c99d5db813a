import ArgumentParser
import EventLog
import Foundation

/// `outline-admin replay SESSION`: the session's timeline as it happened,
/// relative times and decoded payloads, at 1×, 10× or as fast as possible.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay one session's timeline on the terminal, at real or scaled speed.",
        discussion: "Each line: +elapsed since the first event, sequence, type, payload. --speed 1 waits as the session did, 10 ten times faster, 0 (default) does not wait."
    )
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "the session id (a UUID)") var sessionID: String
    @Option(help: "1 = real time, 10 = ten times faster, 0 = as fast as possible") var speed: Double = 0

    func validate() throws {
        guard UUID(uuidString: sessionID) != nil else { throw ValidationError("\(sessionID) is not a session id (a UUID)") }
        guard ReplayPacer.accepts(speed: speed) else {
            throw ValidationError("--speed is 0 (no waiting) or from \(ReplayPacer.minimumSpeed) to \(Int(ReplayPacer.maximumSpeed))")
        }
    }

    func run() async throws {
        let session = UUID(uuidString: sessionID)!
        let count = try await database.withPool { pool in
            var pacer = ReplayPacer(speed: speed)
            var count = 0
            var cursor: Int32 = 0
            while true {
                let page = try await EventStore(pool: pool).read(session: session, after: cursor, limit: 1000)
                if page.isEmpty { break }
                for event in page {
                    try await pacer.wait(until: event.recordedAt)
                    print("+\(ReplayPacer.format(pacer.offset(of: event.recordedAt)))\t\(event.sequence)\t\(event.eventType)\t\(String(decoding: event.json, as: UTF8.self))")
                    cursor = event.sequence
                    count += 1
                }
            }
            return count
        }
        guard count > 0 else { throw AdminFailure("session \(sessionID) has no events") }
    }
}
