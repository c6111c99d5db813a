import EventLog
import Foundation
import PostgresClient

/// Keeps `outline_sessions` current inside every append's transaction.
///
/// It reads the rows of the sessions being appended to, folds the new events into
/// them with `OutlineSessionFold`, and writes them back in one statement. The
/// partial unique index on active sessions makes a second concurrent start fail
/// here, before its event can commit.
public struct OutlineSessionsProjection: InlineProjection {
    public let table: OutlineSessionTable

    public init(table: OutlineSessionTable = .live) {
        self.table = table
    }

    public func apply(_ events: [AppendedEvent], on connection: PostgresConnection) async throws {
        var order: [UUID] = []
        var seen = Set<UUID>()
        for event in events where seen.insert(event.sessionID).inserted { order.append(event.sessionID) }
        var rows = try await table.rows(ids: order, on: connection)
        var changed = Set<UUID>()
        for event in events {
            if let row = OutlineSessionFold.apply(event.event, sessionID: event.sessionID, sequence: event.sequence,
                                                  recordedAt: event.recordedAt, to: rows[event.sessionID]) {
                rows[event.sessionID] = row
                changed.insert(event.sessionID)
            }
        }
        try await table.upsert(order.filter(changed.contains).compactMap { rows[$0] }, on: connection)
    }
}
