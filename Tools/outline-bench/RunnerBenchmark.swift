import EventLog
import BenchmarkSupport
import Foundation
import Logging
import OpenAIResponses
import OutlineProjections
import PostgresClient
import SessionRunner
import SimulatedProvider

/// Sessions run end to end by the session runner against the simulated provider
/// (in this process, on loopback): events/s from provider to log, and the
/// process's threads and memory while many provider streams are open.
struct RunnerBenchmark {
    var sessions: Int
    var outputLength: Int
    var pace: Duration

    func run(pool: PostgresPool, logger: Logger) async throws {
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(
            spec: TranscriptSpec(webSearches: 3, reasoningSummaries: 2, outputLength: outputLength, deltaSize: 8, pace: pace)))
        let store = EventStore(pool: pool, projections: [OutlineSessionsProjection()], logger: logger)
        let runner = SessionRunner(store: store, writer: GroupCommitWriter(store: store),
                                   client: ResponsesClient(configuration: ResponsesConfiguration(baseURL: provider.url), logger: logger),
                                   logger: logger)
        let outline = OutlineSessions(store: store)
        var ids: [UUID] = []
        for i in 0..<sessions {
            ids.append(try await outline.start(SessionStarted(workflowId: "bench-run-\(i)", prompt: "p", mode: .streaming, requestedBy: "bench", skipClarification: true)).sessionID)
        }
        let threadsBefore = Self.threads()
        let startPosition = try await store.lastPosition()
        let sampler = Task {
            var peak = (threads: 0, rssKB: 0)
            while !Task.isCancelled {
                peak = (max(peak.threads, Self.threads()), max(peak.rssKB, Self.residentKB()))
                try? await Task.sleep(for: .milliseconds(100))
            }
            return peak
        }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask { try await runner.research(session: id, instructions: "Research", mode: .streaming) }
            }
            try await group.waitForAll()
        }
        let elapsed = seconds(since: start)
        sampler.cancel()
        let peak = await sampler.value
        let appended = try await store.lastPosition() - startPosition
        let completed = try await pool.query("SELECT count(*) FROM outline_sessions WHERE status = 'completed'")[0].decode(Int64.self, at: 0)
        print(String(format: "runner: %d sessions, %lld events from provider to log in %.2f s = %.0f events/s (%lld completed; provider pace %@ per event, in-process)",
                     sessions, appended, elapsed, Double(appended) / elapsed, completed, "\(pace)" as NSString))
        print("runner: threads \(threadsBefore) before, \(peak.threads) at peak with \(sessions) provider streams open; peak RSS \(peak.rssKB / 1024) MiB")
        await provider.stop()
    }

    static func threads() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }

    static func residentKB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
}
