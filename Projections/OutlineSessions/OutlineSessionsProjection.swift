import EventLog
import Foundation
import PostgresClient

/// Keeps `outline_sessions` current inside every append's transaction.
///
/// It folds the new events into each session's row with `OutlineSessionFold`
/// (starting from the row this process last wrote when that is provably current,
/// else from the database) and writes the result back in one statement per kind
/// of change: a whole row for new sessions and rewrites, or just the new text for
/// a live session whose output grew, so a long outline is never shipped back and
/// forth on every delta. The partial unique index on active sessions makes a
/// second concurrent start fail here, before its event can commit.
public struct OutlineSessionsProjection: InlineProjection {
    public let table: OutlineSessionTable
    private let cache: OutlineSessionRowCache

    public init(table: OutlineSessionTable = .live) {
        self.table = table
        self.cache = OutlineSessionRowCache()
    }

    public func apply(_ events: [AppendedEvent], on connection: isolated PostgresConnection) throws -> (@Sendable () -> Void)? {
        var order: [UUID] = []
        var firstSequence: [UUID: Int32] = [:]
        for event in events where firstSequence[event.sessionID] == nil {
            firstSequence[event.sessionID] = event.sequence
            order.append(event.sessionID)
        }
        var rows: [UUID: OutlineSessionRow] = [:]
        var missing: [UUID] = []
        for id in order {
            if let cached = cache.take(id, before: firstSequence[id]!) { rows[id] = cached } else { missing.append(id) }
        }
        rows.merge(try table.rows(ids: missing, on: connection)) { cached, _ in cached }
        // What each row's texts were before, to send only what they grew by.
        var textBefore: [UUID: (output: Int, reasoning: Int)] = [:]
        for (id, row) in rows { textBefore[id] = (row.outputText.utf8.count, row.reasoningSummary.utf8.count) }

        var changed = Set<UUID>()
        var replaced = Set<UUID>()
        for event in events {
            OutlineSessionFold.apply(event.event, sessionID: event.sessionID, sequence: event.sequence,
                                     recordedAt: event.recordedAt, to: &rows[event.sessionID])
            if rows[event.sessionID] != nil { changed.insert(event.sessionID) }
            if OutlineSessionFold.replacesText(event.event) { replaced.insert(event.sessionID) }
        }
        var whole: [OutlineSessionRow] = []
        var grown: [OutlineSessionTable.GrownRow] = []
        for id in order where changed.contains(id) {
            let row = rows[id]!
            if let old = textBefore[id], !replaced.contains(id) {
                grown.append(.init(row: row, outputSuffix: String(row.outputText.utf8.dropFirst(old.output))!,
                                   reasoningSuffix: String(row.reasoningSummary.utf8.dropFirst(old.reasoning))!))
            } else {
                whole.append(row)
            }
        }
        try table.upsert(whole, on: connection)
        try table.updateGrown(grown, on: connection)
        let committed = whole + grown.map(\.row)
        return { [cache] in cache.store(committed) }
    }
}
