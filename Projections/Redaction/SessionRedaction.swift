import EventLog
import Foundation
import Logging
import PostgresClient

/// A redaction as an operator runs it: the log's part (`Redactor`: tombstones
/// in segments and hot rows, the audit record), then the session's read-model
/// row folded again from the redacted log, so `outline_sessions` no longer
/// holds the content either (a redacted outline reads as empty, the session
/// still completed).
public struct SessionRedaction: Sendable {
    public let store: EventStore
    private let logger: Logger

    public init(store: EventStore, logger: Logger = Logger(label: "outlinestream.redaction")) {
        self.store = store
        self.logger = logger
    }

    public func redact(session: UUID, _ selector: Redactor.Selector, actor: String, reason: String) async throws -> Redactor.Result {
        let result = try await Redactor(pool: store.pool, logger: logger).redact(session: session, selector, actor: actor, reason: reason)
        guard !result.sequences.isEmpty else { return result }
        var row: OutlineSessionRow?
        var after: Int32 = 0
        while true {
            let page = try await store.read(session: session, after: after, limit: 5000)
            if page.isEmpty { break }
            for event in page { OutlineSessionFold.apply(event.event, sessionID: session, sequence: event.sequence, recordedAt: event.recordedAt, to: &row) }
            after = page.last!.sequence
        }
        if let row {
            try await store.pool.withConnection { connection in
                try await connection.transaction { try OutlineSessionTable.live.upsert([row], on: $0) }
            }
        }
        return result
    }
}
