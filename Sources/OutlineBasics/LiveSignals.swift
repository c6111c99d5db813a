import Foundation
import Synchronization

/// The live figures the rollback triggers are judged by, kept per process over
/// the last hour: latencies as samples (time to first content, append, SSE
/// delivery) and events as counts (content the stream missed and polling
/// recovered, one-active-session refusals, constraint errors). The parts that
/// see them record here; the diagnostics page and `/metrics` read quantiles and
/// counts against thresholds (`RollbackTriggers`). Prometheus keeps the full
/// histograms; this is what a person reads without a query language.
public final class LiveSignals: Sendable {
    public enum Latency: String, CaseIterable, Sendable {
        case timeToFirstContent = "time_to_first_content"
        case append
        case delivery
    }

    public enum Occurrence: String, CaseIterable, Sendable {
        case missingContent = "missing_content"
        case activeSessionRefusals = "active_session_refusals"
        case constraintErrors = "constraint_errors"
    }

    public static let shared = LiveSignals()

    /// The newest samples of each latency (at most `capacity`, at most an hour old).
    private let samples = Mutex<[Latency: [(at: ContinuousClock.Instant, seconds: Double)]]>([:])
    private let occurrences = Mutex<[Occurrence: [ContinuousClock.Instant]]>([:])
    let capacity = 4096
    let horizon: Duration = .seconds(3600)

    public init() {}

    /// The last day, hour by hour (the diagnostics page's charts).
    private let days = Mutex<[Latency: HourlyLatencyHistory]>([:])

    public func record(_ latency: Latency, seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        let now = ContinuousClock.now
        samples.withLock { all in
            var list = all[latency] ?? []
            list.append((now, seconds))
            if list.count > capacity { list.removeFirst(list.count - capacity) }
            all[latency] = list
        }
        let wall = Date()
        days.withLock { all in
            var history = all[latency] ?? HourlyLatencyHistory()
            history.record(seconds, at: wall)
            all[latency] = history
        }
    }

    /// The hours of the last day that saw this latency, oldest first, with each hour's p50 and p95.
    public func lastDay(_ latency: Latency) -> [HourlyLatencyHistory.Hour] {
        days.withLock { $0[latency]?.lastDay() ?? [] }
    }

    public func count(_ occurrence: Occurrence) {
        let now = ContinuousClock.now
        occurrences.withLock { all in
            var list = all[occurrence] ?? []
            list.append(now)
            if list.count > capacity { list.removeFirst(list.count - capacity) }
            all[occurrence] = list
        }
    }

    /// Sample count and the p50, p95 and p99 of the last hour (0 without samples).
    public func quantiles(_ latency: Latency) -> (count: Int, p50: Double, p95: Double, p99: Double) {
        let cutoff = ContinuousClock.now - horizon
        let values = samples.withLock { ($0[latency] ?? []).filter { $0.at > cutoff }.map(\.seconds) }.sorted()
        guard !values.isEmpty else { return (0, 0, 0, 0) }
        func at(_ q: Double) -> Double { values[min(values.count - 1, Int((Double(values.count) * q).rounded(.up)) - 1)] }
        return (values.count, at(0.5), at(0.95), at(0.99))
    }

    /// How many happened in the last hour.
    public func total(_ occurrence: Occurrence) -> Int {
        let cutoff = ContinuousClock.now - horizon
        return occurrences.withLock { ($0[occurrence] ?? []).count { $0 > cutoff } }
    }
}
