import EventLog
import Foundation
import OutlineProjections
import PostgresClient
import Testing
import TestSupport

@Suite("Compaction into segments: every reader reads the same before and after")
struct CompactionTests {
    /// What each reader of the log returns, in a form to compare.
    struct Readings: Equatable {
        var sessions: [[RecordedEvent]] = []
        var feeds: [[FeedEvent]] = []
        /// Many sessions' feeds read at once (`readFeeds`, a notification's read).
        var batchedFeeds: [[FeedEvent]] = []
        var pagedFromMiddle: [[Int32]] = []
        var log: [RecordedEvent] = []
        var logPaged: [Int64] = []
        var exports: [[Substring]] = []
        var counts: [Int64] = []
        var verify: [String] = []
        var rebuiltRows: [String] = []
        var anchorBreaks = 0
    }

    static func appendInterleaved(_ store: EventStore, count: Int = 4) async throws -> [UUID] {
        try await SampleEvents.appendInterleaved(store, count: count)
    }

    static func read(_ store: EventStore, _ ids: [UUID], anchors: [ChainAnchor]) async throws -> Readings {
        var readings = Readings()
        for id in ids {
            readings.sessions.append(try await store.read(session: id, limit: 10_000))
            readings.feeds.append(try await store.readFeed(session: id, after: 0, limit: 10_000))
            // SSE resumes from any Last-Event-ID, a few events a page.
            var cursor: Int32 = 5
            var sequences: [Int32] = []
            while true {
                let page = try await store.readFeed(session: id, after: cursor, limit: 3)
                if page.isEmpty { break }
                sequences += page.map(\.sequence)
                cursor = page.last!.sequence
            }
            readings.pagedFromMiddle.append(sequences)
        }
        // Many sessions at once from different cursors: each page exactly `readFeed`'s.
        for limit in [3, 10_000] {
            let cursors = ids.enumerated().map { (session: $0.element, after: [Int32(0), 5, 17, .max][$0.offset % 4]) }
            let pages = try await store.readFeeds(cursors, limit: limit)
            #expect(Set(pages.keys) == Set(ids))
            for (session, after) in cursors {
                let page = pages[session] ?? []
                let single = try await store.readFeed(session: session, after: after, limit: limit)
                #expect(page == single, "session \(session) after \(after), limit \(limit)")
                readings.batchedFeeds.append(page)
            }
        }
        readings.log = try await store.readLog(after: 0, limit: 100_000)
        var position: Int64 = 0
        while true {
            let page = try await store.readLog(after: position, limit: 11)
            if page.isEmpty { break }
            readings.logPaged += page.map(\.position)
            position = page.last!.position
        }
        let export = LogExport(store: store, pageSize: 9)
        let earliest = readings.log[readings.log.count / 3].recordedAt
        let latest = readings.log[2 * readings.log.count / 3].recordedAt
        for selection: LogExport.Selection in [.session(ids[1]), .workflow("wf-compact"), .timeRange(from: nil, to: nil), .timeRange(from: earliest, to: latest)] {
            readings.exports.append(try await LogExportTests.exported(export, selection))
        }
        for selection: LogExport.Selection in [.session(ids[1]), .workflow("wf-compact"), .timeRange(from: nil, to: nil)] {
            readings.counts.append(try await export.count(selection))
        }
        let verifier = ChainVerifier(pool: store.pool)
        let report = try await verifier.verifyAll()
        readings.verify = ["\(report.sessions) \(report.events) \(report.storedBytes) \(report.rawBytes) \(report.isIntact)"]
        for id in ids {
            let one = try await verifier.verify(session: id)
            readings.verify.append("\(one.events) \(one.storedBytes) \(one.rawBytes) \(one.breaks)")
        }
        let rebuild = try OutlineSessionsRebuild(pool: store.pool, pageSize: 13)
        let rebuilt = try await rebuild.run(verify: true, swap: false, dryRun: true)
        readings.rebuiltRows = ["\(rebuilt.eventsFolded) \(rebuilt.sessions) \(rebuilt.differences?.count ?? -1)"]
        readings.anchorBreaks = try await ChainAnchor.check(anchors, pool: store.pool).count
        return readings
    }

    @Test("sessions, feeds from any cursor, the log by position, exports, counts, verify, a rebuild and anchors: identical after compaction")
    func readersAreTransparent() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            let ids = try await Self.appendInterleaved(store)
            let anchors = try await ChainAnchor.heads(pool)
            let before = try await Self.read(store, ids, anchors: anchors)
            #expect(before.log.count > 300)
            #expect(before.logPaged == before.log.map(\.position))

            // Small segments, so sessions span several and readers cross their edges.
            let compactor = Compactor(pool: pool, eventsPerSegment: 7)
            let summary = try await compactor.compactPending()
            #expect(summary.sessions == 3)       // the fourth is still running
            #expect(summary.broken.isEmpty)
            #expect(try await compactor.compact(session: ids[0]) == .alreadyCompacted)
            #expect(try await compactor.compact(session: ids[3]) == .notFinished)
            let segments = try await pool.query("SELECT count(*) FROM outline_event_segments")[0].decode(Int64.self, at: 0)
            #expect(segments > 30)

            let after = try await Self.read(store, ids, anchors: anchors)
            #expect(after.sessions == before.sessions)
            #expect(after.feeds == before.feeds)
            #expect(after.pagedFromMiddle == before.pagedFromMiddle)
            #expect(after.log == before.log)
            #expect(after.logPaged == before.logPaged)
            #expect(after.exports == before.exports)
            #expect(after.counts == before.counts)
            #expect(after.verify == before.verify)
            #expect(after.rebuiltRows == before.rebuiltRows)
            #expect(after.anchorBreaks == 0 && before.anchorBreaks == 0)
        }
    }

    @Test("the readers still read compacted sessions once their hot rows are gone")
    func segmentsAlone() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            let ids = try await Self.appendInterleaved(store)
            let anchors = try await ChainAnchor.heads(pool)
            let before = try await Self.read(store, ids, anchors: anchors)
            _ = try await Compactor(pool: pool, eventsPerSegment: 50).compactPending()
            // What dropping their partition will do: the compacted sessions' hot rows leave.
            let owner = try await PostgresConnection.connect(TestDatabase.superuser(for: settings))
            try await owner.execute("ALTER TABLE outline_events DISABLE TRIGGER outline_events_no_update_or_delete")
            try await owner.query("DELETE FROM outline_events e USING outline_compacted_sessions c WHERE c.session_id = e.session_id")
            try await owner.execute("ALTER TABLE outline_events ENABLE TRIGGER outline_events_no_update_or_delete")
            await owner.close()
            let left = try await pool.query("SELECT count(DISTINCT session_id) FROM outline_events")[0].decode(Int64.self, at: 0)
            #expect(left == 1)
            let after = try await Self.read(store, ids, anchors: anchors)
            #expect(after == before)
            // An append to a compacted (ended) session is refused.
            #expect(try await store.appendAtHeadUnlessEnded(session: ids[0], events: [NewEvent(.cancelled(SessionCancelled(cancelledBy: "late")))]) == nil)
        }
    }

    @Test("a scan that meets a compaction between its pages loses and doubles nothing")
    func compactionDuringScan() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let ids = try await Self.appendInterleaved(store)
            let whole = try await store.readLog(after: 0, limit: 100_000).map(\.position)
            let compactor = Compactor(pool: pool, eventsPerSegment: 5)
            let scan = LogScan(after: 0)
            var seen: [Int64] = []
            var page = 0
            while true {
                let events = try await pool.withConnection { connection in try await connection.run { try scan.next(limit: 17, on: $0) } }
                if events.isEmpty { break }
                seen += events.map(\.event.position)
                page += 1
                // A session compacted after each of the first pages.
                if page <= ids.count { _ = try await compactor.compact(session: ids[page - 1]) }
            }
            #expect(seen == whole)
        }
    }

    @Test("a session whose chain does not verify stays hot; a damaged segment is named by verify")
    func damage() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            let store = EventStore(pool: pool)
            let ids = try await Self.appendInterleaved(store)
            let owner = try await PostgresConnection.connect(TestDatabase.superuser(for: settings))
            try await owner.execute("ALTER TABLE outline_events DISABLE TRIGGER outline_events_no_update_or_delete")
            try await owner.query("UPDATE outline_events SET event_type = 'session.cancelled' WHERE session_id = $1 AND sequence = 4", ids[0])
            try await owner.execute("ALTER TABLE outline_events ENABLE TRIGGER outline_events_no_update_or_delete")
            let compactor = Compactor(pool: pool, eventsPerSegment: 20)
            guard case .chainBroken = try await compactor.compact(session: ids[0]) else {
                Issue.record("a tampered session was compacted")
                return
            }
            guard case .compacted(let done) = try await compactor.compact(session: ids[1]) else {
                Issue.record("an intact finished session was not compacted")
                return
            }
            #expect(done.segments > 2)
            // Damage a segment of session 1 in place.
            try await owner.execute("ALTER TABLE outline_event_segments DISABLE TRIGGER outline_event_segments_no_update_or_delete")
            try await owner.query("UPDATE outline_event_segments SET body = overlay(body PLACING '\\x00'::bytea FROM 30) WHERE session_id = $1 AND first_sequence = 21", ids[1])
            try await owner.execute("ALTER TABLE outline_event_segments ENABLE TRIGGER outline_event_segments_no_update_or_delete")
            await owner.close()
            let report = try await ChainVerifier(pool: pool).verify(session: ids[1])
            #expect(report.breaks.first?.differs == .segment)
            #expect(report.breaks.first?.sequence == 21)
            await #expect(throws: EventLogError.self) { try await store.read(session: ids[1], after: 25, limit: 5) }
            // Events before the damaged segment still read.
            #expect(try await store.read(session: ids[1], after: 0, limit: 20).count == 20)
            // And the append-only guard covers segments too.
            await #expect(throws: PostgresError.self) { try await pool.query("DELETE FROM outline_event_segments") }
            await #expect(throws: PostgresError.self) { try await pool.query("UPDATE outline_compacted_sessions SET covered_through = 1") }
        }
    }

    @Test("a cursor at the largest sequence reads nothing, hot or compacted (the bounded range never overflows)")
    func cursorAtTheTop() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            let ids = try await Self.appendInterleaved(store)
            for _ in 0..<2 {
                for id in ids {
                    #expect(try await store.readFeed(session: id, after: .max, limit: 1000).isEmpty)
                    #expect(try await store.read(session: id, after: .max - 1, limit: .max).isEmpty)
                    #expect(try await store.storedEvents(session: id, after: 0, limit: .max).count > 50)
                }
                _ = try await Compactor(pool: pool).compactPending()
            }
        }
    }
}
