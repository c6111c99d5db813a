import EventLog
import BenchmarkSupport
import Foundation
import Logging
import OutlineProjections
import PostgresClient
import Synchronization

/// Many live sessions streaming deltas at once, each appending a batch at a time
/// through one group commit writer: the shape of the runner's load.
struct AppendWorkload {
    var sessions: Int
    var batch: Int
    var events: Int
    var writers: Int
    var inlineProjection: Bool

    func run(pool: PostgresPool, logger: Logger) async throws {
        let store = EventStore(pool: pool, projections: inlineProjection ? [OutlineSessionsProjection()] : [], logger: logger)
        let writer = GroupCommitWriter(store: store, maxEventsPerTransaction: 5000, maxConcurrentTransactions: writers)
        let ids = (0..<sessions).map { _ in UUID() }
        // Every session starts first (the read model needs its row).
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, id) in ids.enumerated() {
                group.addTask {
                    try await writer.append(StreamAppend(sessionID: id, expectedSequence: 0, events: [
                        NewEvent(.sessionStarted(SessionStarted(workflowId: "bench-\(i)", prompt: "Benchmark prompt \(i)", mode: .streaming, requestedBy: "bench"))),
                    ]))
                }
            }
            try await group.waitForAll()
        }
        let startPosition = try await store.lastPosition()
        let startXact = try await pool.query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0].decode(Int64.self, at: 0)
        let perSession = events / sessions / batch
        let latencies = Samples()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask {
                    var expected: Int32 = 1
                    var providerSequence: Int32 = 0
                    var mine: [Double] = []
                    mine.reserveCapacity(perSession)
                    for _ in 0..<perSession {
                        let deltas = (0..<batch).map { _ -> NewEvent in
                            providerSequence += 1
                            return NewEvent(.outputTextDelta(OutputTextDelta(
                                itemId: "msg_0cc96ac817fdc57e00693337", outputIndex: 2, contentIndex: 0,
                                delta: " renewable tidal–stream sites\(providerSequence % 10)", providerSequence: providerSequence)))
                        }
                        let began = ContinuousClock.now
                        expected = try await writer.append(StreamAppend(sessionID: id, expectedSequence: expected, events: deltas)).lastSequence
                        mine.append(seconds(since: began) * 1000)
                    }
                    let done = mine
                    latencies.add(done)
                }
            }
            try await group.waitForAll()
        }
        let elapsed = seconds(since: start)
        let appended = try await store.lastPosition() - startPosition
        let xacts = try await pool.query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0].decode(Int64.self, at: 0) - startXact
        let summary = LatencySummary(latencies.all)
        print(String(format: "append: %lld delta events in %.2f s = %.0f events/s (%d sessions, %d deltas per append, projection %@, durable commits)",
                     appended, elapsed, Double(appended) / elapsed, sessions, batch, inlineProjection ? "inline" : "none"))
        print(String(format: "append: ~%lld commits (all sessions' pending appends share one), %.0f events per commit; append latency %@",
                     xacts, Double(appended) / Double(max(1, xacts)), summary.text))
    }
}

/// Latency samples gathered from many tasks.
final class Samples: Sendable {
    private let samples = Mutex<[Double]>([])
    func add(_ more: [Double]) { samples.withLock { $0 += more } }
    var all: [Double] { samples.withLock { $0 } }
}
