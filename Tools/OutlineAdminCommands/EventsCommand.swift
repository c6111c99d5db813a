import ArgumentParser
import EventLog
import Foundation

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print one session's events, decoded.",
        discussion: "One line per event: sequence, time, type, provider sequence, payload JSON. --ndjson prints one JSON object per line instead."
    )
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "the session id (a UUID)") var sessionID: String
    @Option(help: "print events after this sequence number") var after: Int32 = 0
    @Option(help: "print at most this many events") var limit: Int = 1_000_000
    @Flag(help: "one JSON object per line") var ndjson = false

    func validate() throws {
        guard UUID(uuidString: sessionID) != nil else { throw ValidationError("\(sessionID) is not a session id (a UUID)") }
        guard after >= 0 else { throw ValidationError("--after must be 0 or more") }
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        let session = UUID(uuidString: sessionID)!
        try await database.withPool { pool in
            let store = EventStore(pool: pool)
            var cursor = after
            var printed = 0
            while printed < limit {
                let page = try await store.read(session: session, after: cursor, limit: min(1000, limit - printed))
                if page.isEmpty { break }
                for event in page {
                    print(ndjson ? Self.ndjsonLine(event) : Self.textLine(event))
                    cursor = event.sequence
                    printed += 1
                }
            }
            if printed == 0 && after == 0 {
                throw AdminFailure("session \(sessionID) has no events")
            }
        }
    }

    static func textLine(_ event: RecordedEvent) -> String {
        let provider = event.providerSequence.map { " provider#\($0)" } ?? ""
        return "\(event.sequence)\t\(ISO8601DateFormatter.fractional.string(from: event.recordedAt))\t\(event.eventType) v\(event.schemaVersion)\(provider)\t\(String(decoding: event.json, as: UTF8.self))"
    }

    /// The same line `outline-admin export` writes: one format for analysts.
    static func ndjsonLine(_ event: RecordedEvent) -> String {
        String(decoding: LogExport.line(event), as: UTF8.self)
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let fractional: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
