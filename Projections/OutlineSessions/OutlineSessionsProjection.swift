import EventLog
import Foundation
import PostgresClient
import Synchronization

/// Keeps `outline_sessions` current inside every append's transaction.
///
/// It folds the new events into each session's row with `OutlineSessionFold`
/// (starting from the row this process last wrote when that is provably current,
/// else from the database) and writes the result back in one statement per kind
/// of change: a whole row for new sessions and rewrites, just the new text for a
/// live session whose output grew, and for the common live delta (only its
/// progress columns moved) only those columns, without re-encoding the row as
/// JSON, so a long outline is never shipped back and forth on every delta. The partial unique index on active sessions makes a
/// second concurrent start fail here, before its event can commit.
public struct OutlineSessionsProjection: InlineProjection {
    public let table: OutlineSessionTable
    private let cache: OutlineSessionRowCache
    /// Rows written by each kind of statement, so a test (or an operator in a
    /// debugger) can see which path the appends took.
    public let writes = WriteTally()

    public init(table: OutlineSessionTable = .live) {
        self.table = table
        self.cache = OutlineSessionRowCache()
    }

    /// Counts of rows written whole, grown (scalar columns as JSON plus new text),
    /// and by progress only (six columns plus new text).
    public final class WriteTally: Sendable {
        private let counts = Mutex((whole: 0, grown: 0, progress: 0))
        public var whole: Int { counts.withLock { $0.whole } }
        public var grown: Int { counts.withLock { $0.grown } }
        public var progress: Int { counts.withLock { $0.progress } }
        func add(whole: Int, grown: Int, progress: Int) {
            counts.withLock { $0.whole += whole; $0.grown += grown; $0.progress += progress }
        }
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
        // What each row was before: its texts' lengths, to send only what they
        // grew by, and its other columns without the texts (a copy that keeps the
        // texts would make the fold's appends copy them), to see what changed.
        var textBefore: [UUID: (output: Int, reasoning: Int)] = [:]
        var before: [UUID: OutlineSessionRow] = [:]
        for (id, row) in rows {
            textBefore[id] = (row.outputText.utf8.count, row.reasoningSummary.utf8.count)
            before[id] = row.withoutTexts
        }

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
        var progressed: [OutlineSessionTable.GrownRow] = []
        for id in order where changed.contains(id) {
            let row = rows[id]!
            if let old = textBefore[id], !replaced.contains(id) {
                let change = OutlineSessionTable.GrownRow(row: row, outputSuffix: String(row.outputText.utf8.dropFirst(old.output))!,
                                                          reasoningSuffix: String(row.reasoningSummary.utf8.dropFirst(old.reasoning))!)
                // Only the progress columns moved (the common live delta): write just those.
                if let previous = before[id], OutlineSessionTable.Progress(row).applied(to: previous) == row.withoutTexts {
                    progressed.append(change)
                } else {
                    grown.append(change)
                }
            } else {
                whole.append(row)
            }
        }
        try table.upsert(whole, on: connection)
        try table.updateGrown(grown, on: connection)
        try table.updateProgress(progressed, on: connection)
        writes.add(whole: whole.count, grown: grown.count, progress: progressed.count)
        let committed = whole + grown.map(\.row) + progressed.map(\.row)
        return { [cache] in cache.store(committed) }
    }
}
