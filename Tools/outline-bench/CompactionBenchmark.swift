import BenchmarkSupport
import EventLog
import Foundation
import Logging
import OpenAIResponses
import OutlineProjections
import PostgresClient
import SessionRunner

/// The log's life cycle in figures: finished sessions (simulated transcripts
/// run end to end, and the recorded real provider streams) stored hot, then
/// compacted: bytes per event each way and against the JSON, compaction
/// events/s, and replay (one session's events read in order, as an SSE replay
/// reads them) from hot rows and from segments.
struct CompactionBenchmark {
    var sessions: Int
    var outputLength: Int
    var fixtures: URL
    var recordedCopies: Int

    func run(pool: PostgresPool, logger: Logger) async throws {
        try await RunnerBenchmark(sessions: sessions, outputLength: outputLength, pace: .zero).run(pool: pool, logger: logger)
        let simulated = Set(try await pool.query("SELECT session_id FROM outline_event_streams").map { try $0.decode(UUID.self, at: 0) })
        let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()], logger: logger)
        var recorded: [String: [UUID]] = [:]
        for name in ["openai-web-search-tool.1", "openai-reasoning-encrypted-content.1", "openai-error.1"] {
            recorded[name] = try await appendRecorded(name, store: store)
        }
        try await pool.query("VACUUM ANALYZE outline_events")
        let hot = try await pool.query("""
            SELECT count(*), sum(raw_size)::int8, (\(StorageReport.logRelations("pg_table_size(c.oid) + pg_indexes_size(c.oid)"))) FROM outline_events
            """)[0]
        let hotEvents = try hot.decode(Int64.self, at: 0), hotJSON = try hot.decode(Int64.self, at: 1), hotBytes = try hot.decode(Int64.self, at: 2)
        print(String(format: "hot: %lld events, JSON %.0f B/event, table + indexes %.0f B/event (%.2fx the JSON)",
                     hotEvents, Double(hotJSON) / Double(hotEvents), Double(hotBytes) / Double(hotEvents), Double(hotBytes) / Double(hotJSON)))

        let longest = try await pool.query("SELECT session_id FROM outline_event_streams ORDER BY head_sequence DESC LIMIT 1")[0].decode(UUID.self, at: 0)
        let hotReplay = try await replay(store, session: longest)
        let hotScan = try await scan(pool)

        let started = ContinuousClock.now
        let summary = try await Compactor(pool: pool, logger: logger).compactPending()
        let compactSeconds = seconds(since: started)
        print(String(format: "compaction: %d sessions, %d events in %.2f s = %.0f events/s, one session per transaction (chain verified, packed, LZ4)",
                     summary.sessions, summary.events, compactSeconds, Double(summary.events) / compactSeconds))
        try await pool.query("VACUUM ANALYZE outline_event_segments")
        try await pool.query("VACUUM ANALYZE outline_event_packs")
        try await pool.query("VACUUM ANALYZE outline_compacted_sessions")
        let total = try await pool.query("""
            SELECT (SELECT count(*) FROM outline_event_segments), (SELECT count(*) FROM outline_event_packs),
                   (SELECT count(*) FROM outline_compacted_sessions), (SELECT count(*) FROM outline_compacted_sessions WHERE pack_id IS NOT NULL),
                   (SELECT coalesce(sum(covered_through), 0)::int8 FROM outline_compacted_sessions),
                   (SELECT coalesce(sum(json_size), 0)::int8 FROM outline_compacted_sessions),
                   (SELECT coalesce(sum(octet_length(body)), 0)::int8 FROM outline_event_segments),
                   (SELECT coalesce(sum(octet_length(body)), 0)::int8 FROM outline_event_packs),
                   pg_total_relation_size('outline_event_segments'), pg_total_relation_size('outline_event_packs'),
                   pg_total_relation_size('outline_compacted_sessions')
            """)[0]
        let segmentCount = try total.decode(Int64.self, at: 0), packCount = try total.decode(Int64.self, at: 1)
        let sessionCount = try total.decode(Int64.self, at: 2), packedSessions = try total.decode(Int64.self, at: 3)
        let compactedEvents = try total.decode(Int64.self, at: 4), json = try total.decode(Int64.self, at: 5)
        let segmentBodies = try total.decode(Int64.self, at: 6), packBodies = try total.decode(Int64.self, at: 7)
        let segmentsOnDisk = try total.decode(Int64.self, at: 8), packsOnDisk = try total.decode(Int64.self, at: 9), rowsOnDisk = try total.decode(Int64.self, at: 10)
        let onDisk = segmentsOnDisk + packsOnDisk + rowsOnDisk
        // What a stored byte costs beyond the LZ4 bodies: each segment's row and index
        // entries, each pack's (shared by its sessions), each session's compacted row.
        let overhead = Overhead(perSegment: Double(segmentsOnDisk - segmentBodies) / Double(max(segmentCount, 1)),
                                perPackedSession: Double(packsOnDisk - packBodies) / Double(max(packedSessions, 1)),
                                perSession: Double(rowsOnDisk) / Double(max(sessionCount, 1)))
        print(String(format: "compacted: %lld events of %lld sessions, in %lld segments and %lld packs (%lld small sessions), JSON %.0f B/event; LZ4 bodies %.1f B/event; on disk (segments, packs, compacted-session rows, TOAST and indexes) %.1f B/event = %.1f%% of the JSON",
                     compactedEvents, sessionCount, segmentCount, packCount, packedSessions, Double(json) / Double(max(compactedEvents, 1)),
                     Double(segmentBodies + packBodies) / Double(max(compactedEvents, 1)), Double(onDisk) / Double(max(compactedEvents, 1)),
                     100 * Double(onDisk) / Double(max(json, 1))))
        print(String(format: "  beyond the bodies: %.0f B per segment, %.0f B per packed session for its pack's row, %.0f B per session for its compacted-session row",
                     overhead.perSegment, overhead.perPackedSession, overhead.perSession))
        try await ratio("simulated transcripts (\(simulated.count) sessions)", Array(simulated), pool: pool, overhead: overhead)
        for (name, ids) in recorded.sorted(by: { $0.key < $1.key }) {
            try await ratio("recorded \(name) (×\(ids.count))", ids, pool: pool, overhead: overhead)
        }
        print("  (the hot rows stay until their partition is dropped; the ratios are what a finished session keeps after that)")

        let segmentReplay = try await replay(store, session: longest)
        let segmentScan = try await scan(pool)
        print(String(format: "replay of one %d-event session, pages of 1,000: hot rows %.0f events/s, segments %.0f events/s",
                     hotReplay.events, hotReplay.rate, segmentReplay.rate))
        print(String(format: "whole-log scan in position order (LogScan, pages of 5,000): hot rows %.0f events/s, segments %.0f events/s",
                     hotScan, segmentScan))
    }

    /// The recorded stream as a session: started, the provider events as the
    /// runner maps them, its terminal event; `recordedCopies` times.
    private func appendRecorded(_ name: String, store: EventStore) async throws -> [UUID] {
        let payloads = try String(contentsOf: fixtures.appendingPathComponent("\(name).chunks.txt"), encoding: .utf8).split(separator: "\n")
        var events: [OutlineEvent] = [
            .sessionStarted(SessionStarted(workflowId: "recorded-\(name)", prompt: "recorded", mode: .streaming, requestedBy: "bench", skipClarification: true)),
            .providerRequestStarted(ProviderRequestStarted(model: "o3-deep-research", background: true, stream: true, attempt: 1)),
        ]
        var providerSequences = Set<Int32>()
        for payload in payloads {
            // One provider event can map to several (a final response's outline and
            // its citations); the log keeps a provider sequence once: the first.
            for event in ProviderEventMapping.domainEvents(for: try ResponseStreamEvent.decode(String(payload))) {
                if let sequence = event.providerSequence, !providerSequences.insert(sequence).inserted { continue }
                events.append(event)
            }
        }
        if let last = events.last, !EventCatalog.terminalEventTypes.contains(last.eventType) {
            events.append(.failed(SessionFailed(code: "stream_ended", message: "recorded stream ended", retryable: false)))
        }
        var ids: [UUID] = []
        for _ in 0..<recordedCopies {
            let id = UUID()
            var expected: Int32 = 0
            for start in stride(from: 0, to: events.count, by: 10) {
                let batch = events[start..<min(start + 10, events.count)].map { NewEvent($0) }
                expected = try await store.append(StreamAppend(sessionID: id, expectedSequence: expected, events: batch)).lastSequence
            }
            ids.append(id)
        }
        return ids
    }

    private struct Overhead {
        var perSegment: Double
        var perPackedSession: Double
        var perSession: Double
    }

    /// A group of sessions' stored bytes: their bodies (a packed session's share
    /// of its pack's, by its JSON) plus their share of the rows around them.
    private func ratio(_ label: String, _ ids: [UUID], pool: PostgresPool, overhead: Overhead) async throws {
        let row = try await pool.query("""
            SELECT count(*), count(pack_id), coalesce(sum(segments) FILTER (WHERE pack_id IS NULL), 0)::int8, coalesce(sum(covered_through), 0)::int8,
                   coalesce(sum(json_size), 0)::int8, coalesce(sum(stored_size), 0)::int8
              FROM outline_compacted_sessions WHERE session_id = ANY($1)
            """, PostgresArray(ids))[0]
        let sessions = try row.decode(Int64.self, at: 0), packed = try row.decode(Int64.self, at: 1), segments = try row.decode(Int64.self, at: 2)
        let events = try row.decode(Int64.self, at: 3), json = try row.decode(Int64.self, at: 4), bodies = try row.decode(Int64.self, at: 5)
        let stored = Double(bodies) + overhead.perSegment * Double(segments) + overhead.perPackedSession * Double(packed) + overhead.perSession * Double(sessions)
        print(String(format: "  %@: %lld events%@, JSON %.0f B/event, stored %.1f B/event = %.1f%% of the JSON",
                     label as NSString, events, (packed > 0 ? " (\(packed) of \(sessions) sessions in packs)" : "") as NSString,
                     Double(json) / Double(max(events, 1)), stored / Double(max(events, 1)), 100 * stored / Double(max(json, 1))))
    }

    private func replay(_ store: EventStore, session: UUID) async throws -> (events: Int, rate: Double) {
        var read = 0, length = 0
        let started = ContinuousClock.now
        repeat {
            var cursor: Int32 = 0
            length = 0
            while true {
                let page = try await store.readFeed(session: session, after: cursor, limit: 1000)
                if page.isEmpty { break }
                cursor = page.last!.sequence
                length += page.count
            }
            read += length
        } while read < 300_000 && length > 0
        return (length, Double(read) / seconds(since: started))
    }

    private func scan(_ pool: PostgresPool) async throws -> Double {
        let scan = LogScan(after: 0)
        var read = 0
        let started = ContinuousClock.now
        while true {
            let page = try await pool.withConnection { connection in try await connection.run { try scan.next(limit: 5000, on: $0) } }
            if page.isEmpty { break }
            read += page.count
        }
        return Double(read) / seconds(since: started)
    }
}
