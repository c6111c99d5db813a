import BenchmarkSupport
import EventLog
import Foundation
import Logging
import OutlineProjections
import OutlineSchema
import PostgresClient
import Synchronization

/// The log's life cycle at scale, while appends run: a log of `events` built
/// on the schema before partitions, migrated to partitions live (and back, and
/// again), its sessions finished and compacted, the old partition dropped.
/// Each step prints its time and what a steady appender saw meanwhile (its
/// append latency: the lock impact).
struct LifecycleBenchmark {
    var events: Int
    var sessions: Int

    /// A session appending one small batch every few ms until stopped, keeping
    /// every append's latency with the time it began.
    final class Appender: Sendable {
        let samples = Mutex<[(at: Double, ms: Double)]>([])
        let stopped = Atomic<Bool>(false)
        let origin = ContinuousClock.now
        let session = UUID()

        /// Appends until stopped, then ends its session (so that compaction can cover it).
        func run(_ store: EventStore) async throws {
            let session = self.session
            var expected: Int32 = 0
            try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: [
                NewEvent(.sessionStarted(SessionStarted(workflowId: "bench-appender", prompt: "steady", mode: .streaming, requestedBy: "bench"))),
            ]))
            expected = 1
            var provider: Int32 = 0
            while !stopped.load(ordering: .relaxed) {
                let batch = (0..<5).map { _ -> NewEvent in
                    provider += 1
                    return NewEvent(.outputTextDelta(OutputTextDelta(itemId: "msg", outputIndex: 0, contentIndex: 0, delta: "steady \(provider) ", providerSequence: provider)))
                }
                let began = ContinuousClock.now
                expected = try await store.append(StreamAppend(sessionID: session, expectedSequence: expected, events: batch)).lastSequence
                let ms = seconds(since: began) * 1000
                samples.withLock { $0.append(((began - origin).secondsValue, ms)) }
                try await Task.sleep(for: .milliseconds(5))
            }
            try await store.append(StreamAppend(sessionID: session, expectedSequence: expected, events: [
                NewEvent(.completed(SessionCompleted(finalOutline: "steady", citations: []))),
            ]))
        }

        /// Appends that began between `from` and `to` (seconds since start): count, p50, max.
        func window(_ from: Double, _ to: Double) -> String {
            let all = samples.withLock { $0 }.filter { $0.at >= from && $0.at <= to }.map(\.ms).sorted()
            guard !all.isEmpty else { return "no append began (all waited)" }
            return String(format: "%d appends, p50 %.1f ms, max %.1f ms", all.count, all[all.count / 2], all[all.count - 1])
        }

        var now: Double { (ContinuousClock.now - origin).secondsValue }
    }

    func run(pool: PostgresPool, logger: Logger) async throws {
        let migrations = try Migration.load(from: SchemaFiles.directory()!)
        let before = migrations.filter { $0.version < 16 }
        let migrator = Migrator(pool: pool, migrations: migrations, logger: logger)
        try await migrator.down(count: migrations.count - before.count)
        let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()], logger: logger)
        try await AppendWorkload(sessions: sessions, batch: 10, events: events, writers: 2, inlineProjection: true).run(pool: pool, logger: logger)
        // The workload's sessions end (their terminal events, before the migration).
        let workload = try await pool.query("SELECT session_id, head_sequence FROM outline_event_streams").map { (try $0.decode(UUID.self, at: 0), try $0.decode(Int32.self, at: 1)) }
        for (session, head) in workload {
            try await store.append(StreamAppend(sessionID: session, expectedSequence: head, events: [NewEvent(.completed(SessionCompleted(finalOutline: "done", citations: [])))]))
        }
        let logSize = try await store.lastPosition()
        print("log: \(logSize) events in \(workload.count) finished sessions, on the schema before partitions (migration 15)")

        var appender = Appender()
        var appending = Task { [appender] in try await appender.run(store) }
        try await Task.sleep(for: .seconds(2))
        func step(_ label: String, _ body: () async throws -> Void) async throws {
            let from = appender.now
            try await body()
            let to = appender.now
            try await Task.sleep(for: .milliseconds(300))
            print(String(format: "%@: %.2f s; appends meanwhile: %@", label as NSString, to - from, appender.window(from, to) as NSString))
        }
        print("steady appender before: \(appender.window(0, appender.now))")
        try await step("migrate up to partitions (0016, 0017) on the live log") { _ = try await migrator.up() }
        let partitions = LogPartitions(pool: pool, logger: logger)
        let afterUp = try await partitions.list()
        print("  partitions: " + afterUp.map { "\($0.name) \($0.firstPosition)…\($0.lastPosition)\($0.isClosed ? " closed" : "")" }.joined(separator: ", "))
        let counted = try await pool.query("SELECT count(*) FROM outline_events WHERE position <= $1", logSize)[0].decode(Int64.self, at: 0)
        print("  rows up to the old head: \(counted) of \(logSize)")
        try await step("migrate down again (0017, 0016: every row copied back into one table)") { _ = try await migrator.down(count: 2) }
        try await step("and up again") { _ = try await migrator.up() }

        // The appender that wrote into the first partition ends its session; a new one goes on.
        appender.stopped.store(true, ordering: .relaxed)
        try await appending.value
        print("steady appender during the migrations: \(appender.window(0, appender.now))")
        appender = Appender()
        appending = Task { [appender] in try await appender.run(store) }
        try await Task.sleep(for: .seconds(1))
        let compactor = Compactor(pool: pool, logger: logger)
        var summary = Compactor.Summary()
        try await step("compact \(workload.count) sessions") { summary = try await compactor.compactPending() }
        print(String(format: "  %d sessions, %d events: %.1f B/event of segments for %.0f B/event of JSON (%.1f%%)",
                     summary.sessions, summary.events, Double(summary.storedSize) / Double(max(summary.events, 1)),
                     Double(summary.jsonSize) / Double(max(summary.events, 1)), 100 * Double(summary.storedSize) / Double(max(summary.jsonSize, 1))))
        let hotBytes = try await pool.query("SELECT pg_total_relation_size(to_regclass($1))", afterUp[0].name)[0].decode(Int64.self, at: 0)
        let droppable = try await partitions.droppable()
        for partition in droppable {
            try await step("drop \(partition.name) (\(partition.lastPosition - partition.firstPosition + 1) positions, \(hotBytes / 1_000_000) MB hot)") {
                _ = try await partitions.drop(partition.name, actor: "outline-bench", reason: "benchmark")
            }
        }
        appender.stopped.store(true, ordering: .relaxed)
        try await appending.value
        let segments = try await pool.query("SELECT pg_total_relation_size('outline_event_segments') + pg_total_relation_size('outline_event_packs') + pg_total_relation_size('outline_compacted_sessions')")[0].decode(Int64.self, at: 0)
        print(String(format: "stored for the %lld compacted events: %.1f MB hot before the drop, %.1f MB of segments after (%.1f%%)",
                     Int64(summary.events), Double(hotBytes) / 1e6, Double(segments) / 1e6, 100 * Double(segments) / Double(max(hotBytes, 1))))
        let longest = try await pool.query("SELECT session_id FROM outline_compacted_sessions ORDER BY covered_through DESC LIMIT 1")[0].decode(UUID.self, at: 0)
        var read = 0
        let started = ContinuousClock.now
        for _ in 0..<20 {
            var cursor: Int32 = 0
            while true {
                let page = try await store.readFeed(session: longest, after: cursor, limit: 1000)
                if page.isEmpty { break }
                cursor = page.last!.sequence
                read += page.count
            }
        }
        print(String(format: "replay from segments after the drop: %d events in %.2f s = %.0f events/s (one session, pages of 1,000, 20 times)",
                     read, seconds(since: started), Double(read) / seconds(since: started)))
        print("steady appender overall: \(appender.window(0, appender.now))")
    }
}

extension Duration {
    fileprivate var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
