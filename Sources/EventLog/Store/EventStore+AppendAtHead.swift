import Foundation
import PostgresClient

extension EventStore {
    /// Appends at the session's current head, whatever it is, unless the session
    /// already ended; returns nil when it had.
    ///
    /// For the few writers that must not lose a race with the session's runner,
    /// which appends every few milliseconds (cancel): the head row is locked, so
    /// the runner's next append waits and then fails its expected sequence, which
    /// tells it the session ended elsewhere. Retrying an optimistic append instead
    /// can starve on a busy machine.
    public func appendAtHeadUnlessEnded(session: UUID, events: [NewEvent]) async throws -> AppendResult? {
        let terminalTypes = EventCatalog.terminalEventTypes
        do {
            let outcome: (AppendResult, [@Sendable () -> Void])? = try await pool.withConnection { connection in
                try await connection.transaction { connection in
                    let rows = try connection.query(
                        """
                        SELECT s.head_sequence, e.event_type,
                               EXISTS (SELECT 1 FROM outline_compacted_sessions c WHERE c.session_id = s.session_id)
                          FROM outline_event_streams s
                          LEFT JOIN outline_events e ON e.session_id = s.session_id AND e.sequence = s.head_sequence
                         WHERE s.session_id = $1 FOR UPDATE OF s
                        """,
                        session
                    )
                    var head: Int32 = 0
                    if let row = rows.first {
                        head = try row.decode(Int32.self, at: 0)
                        if let type = try row.decode(String?.self, at: 1), terminalTypes.contains(type) { return nil }
                        // Only ended sessions are compacted (their hot rows may be gone).
                        if try row.decode(Bool.self, at: 2) { return nil }
                    }
                    let (results, afterCommit) = try self.append([StreamAppend(sessionID: session, expectedSequence: head, events: events)], on: connection)
                    return (results[0], afterCommit)
                }
            }
            guard let (result, afterCommit) = outcome else { return nil }
            afterCommit.forEach { $0() }
            return result
        } catch let error as PostgresError {
            throw Self.translate(error)
        }
    }
}
