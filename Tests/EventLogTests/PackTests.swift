import EventLog
import Foundation
import OutlineProjections
import PostgresClient
import Testing
import TestSupport

@Suite("Packs: small finished sessions compacted many to one block")
struct PackTests {
    @Test("small sessions share one pack; every reader reads the same before, after, and once their hot rows are gone")
    func readersAreTransparent() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()])
            let ids = try await SampleEvents.appendInterleaved(store)
            let anchors = try await ChainAnchor.heads(pool)
            let before = try await CompactionTests.read(store, ids, anchors: anchors)

            let compactor = Compactor(pool: pool)
            let summary = try await compactor.compactPending()
            #expect(summary.sessions == 3 && summary.packs == 1 && summary.packedSessions == 3)
            #expect(summary.broken.isEmpty)
            #expect(try await pool.query("SELECT count(*) FROM outline_event_segments")[0].decode(Int64.self, at: 0) == 0)
            let pack = try await pool.query("SELECT cardinality(sessions), event_count FROM outline_event_packs")
            #expect(pack.count == 1)
            #expect(try pack[0].decode(Int32.self, at: 0) == 3)
            #expect(try await compactor.compact(session: ids[0]) == .alreadyCompacted)
            #expect(try await compactor.compactPending().sessions == 0)   // safe to run twice

            let after = try await CompactionTests.read(store, ids, anchors: anchors)
            #expect(after == before)

            let owner = try await PostgresConnection.connect(TestDatabase.superuser(for: settings))
            try await owner.execute("ALTER TABLE outline_events DISABLE TRIGGER outline_events_no_update_or_delete")
            try await owner.query("DELETE FROM outline_events e USING outline_compacted_sessions c WHERE c.session_id = e.session_id")
            try await owner.execute("ALTER TABLE outline_events ENABLE TRIGGER outline_events_no_update_or_delete")
            await owner.close()
            let alone = try await CompactionTests.read(store, ids, anchors: anchors)
            #expect(alone == before)
        }
    }

    @Test("a damaged pack is named by verify and refused by readers; the append-only guard covers packs")
    func damage() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            let store = EventStore(pool: pool)
            let ids = try await SampleEvents.appendInterleaved(store)
            #expect(try await Compactor(pool: pool).compactPending().packs == 1)
            await #expect(throws: PostgresError.self) { try await pool.query("DELETE FROM outline_event_packs") }
            await #expect(throws: PostgresError.self) { try await pool.query("UPDATE outline_event_packs SET json_size = 0") }
            await #expect(throws: PostgresError.self) { try await pool.query("UPDATE outline_compacted_sessions SET pack_id = NULL") }

            let owner = try await PostgresConnection.connect(TestDatabase.superuser(for: settings))
            try await owner.execute("ALTER TABLE outline_event_packs DISABLE TRIGGER outline_event_packs_no_update_or_delete")
            try await owner.query("UPDATE outline_event_packs SET body = overlay(body PLACING '\\x00'::bytea FROM 40)")
            try await owner.execute("ALTER TABLE outline_event_packs ENABLE TRIGGER outline_event_packs_no_update_or_delete")
            await owner.close()
            for id in ids.prefix(3) {
                let report = try await ChainVerifier(pool: pool).verify(session: id)
                #expect(report.breaks.first?.differs == .segment)
                await #expect(throws: EventLogError.self) { try await store.read(session: id, limit: 10) }
            }
            #expect(try await ChainVerifier(pool: pool).verifyAll().isIntact == false)
            await #expect(throws: EventLogError.self) { try await store.readLog(after: 0, limit: 100_000) }
            // The running session, never packed, still reads.
            #expect(try await store.read(session: ids[3], limit: 10).count == 10)
        }
    }

    @Test("two packers over overlapping sessions at once: each session is packed exactly once, and neither deadlocks")
    func concurrentPackers() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            var ids: [UUID] = []
            for k in 0..<12 {
                let id = UUID()
                try await store.append(StreamAppend(sessionID: id, expectedSequence: 0,
                                                    events: SampleEvents.session(workflowId: "wf-pack-\(k)", deltas: 3 + k, seed: 4 * k).map { NewEvent($0) }))
                ids.append(id)
            }
            var before: [[RecordedEvent]] = []
            for id in ids { before.append(try await store.read(session: id, limit: 1000)) }
            let compactor = Compactor(pool: pool)
            let firstSet = Array(ids[0..<8]), secondSet = Array(ids[4..<12].reversed())
            async let first = compactor.pack(sessions: firstSet)
            async let second = compactor.pack(sessions: secondSet)
            let outcomes = try await first + second
            let packed = outcomes.filter { if case .compacted = $0.1 { true } else { false } }.map(\.0)
            #expect(packed.count == 12 && Set(packed) == Set(ids))
            #expect(outcomes.filter { $0.1 == .alreadyCompacted }.count == 4)
            #expect(try await pool.query("SELECT sum(cardinality(sessions))::int8 FROM outline_event_packs")[0].decode(Int64.self, at: 0) == 12)
            for (id, events) in zip(ids, before) { #expect(try await store.read(session: id, limit: 1000) == events) }
            #expect(try await ChainVerifier(pool: pool).verifyAll().isIntact)
        }
    }

    @Test("the background pass waits for company before it packs a few small sessions, and packs them once they have waited long enough")
    func backgroundWaits() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let store = EventStore(pool: pool)
            _ = try await SampleEvents.appendInterleaved(store)
            var compactor = Compactor.background(pool: pool, logger: .init(label: "test"))
            #expect(try await compactor.compactPending().sessions == 0)
            #expect(try await compactor.pendingCount() == 3)
            compactor.packMaxWait = .zero
            let summary = try await compactor.compactPending()
            #expect(summary.packs == 1 && summary.packedSessions == 3)
        }
    }
}
