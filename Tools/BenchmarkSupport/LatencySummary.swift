/// Percentiles of a set of durations in milliseconds, as the benchmark tools print them.
public struct LatencySummary: Sendable {
    public var sorted: [Double]
    public init(_ samples: [Double]) { sorted = samples.sorted() }

    public func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    public var text: String {
        func format(_ value: Double) -> String { String(Double(Int((value * 100).rounded())) / 100) }
        return "p50 \(format(percentile(0.5))) ms, p99 \(format(percentile(0.99))) ms, max \(format(sorted.last ?? 0)) ms"
    }
}

/// Seconds elapsed since `start`, as a Double for rates.
public func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
