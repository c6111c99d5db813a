/// One histogram as `/metrics` prints it (cumulative `_bucket{le=…}` lines, `_sum`,
/// `_count`), so a benchmark can take the difference of two scrapes and read the
/// server's own view of a phase: its mean and the bucket bounds of its p50/p99.
public struct PrometheusHistogram: Sendable {
    /// (upper bound in seconds, cumulative count), in increasing bound order.
    public var buckets: [(bound: Double, count: Double)]
    public var sum: Double
    public var count: Double

    /// The histogram `name` in a scrape; with `labeled` (`stage="feed_to_write"`),
    /// only its series that carry that label.
    public init(named name: String, labeled label: String? = nil, in text: String) {
        var buckets: [(Double, Double)] = []
        var sum = 0.0, count = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(name) && (label.map { line.contains($0) } ?? true) {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[parts.count - 1]) else { continue }
            let key = parts[0]
            if key.hasPrefix(name + "_bucket"), let start = key.firstRange(of: "le=\""), let end = key[start.upperBound...].firstIndex(of: "\"") {
                let bound = key[start.upperBound..<end] == "+Inf" ? Double.infinity : Double(key[start.upperBound..<end]) ?? .infinity
                buckets.append((bound, value))
            } else if key == name + "_sum" || key.hasPrefix(name + "_sum{") {
                sum = value
            } else if key == name + "_count" || key.hasPrefix(name + "_count{") {
                count = value
            }
        }
        self.buckets = buckets.sorted { $0.0 < $1.0 }
        self.sum = sum
        self.count = count
    }

    private init(buckets: [(bound: Double, count: Double)], sum: Double, count: Double) {
        self.buckets = buckets
        self.sum = sum
        self.count = count
    }

    /// What was observed between `earlier` and this scrape.
    public func minus(_ earlier: PrometheusHistogram) -> PrometheusHistogram {
        let before = Dictionary(earlier.buckets.map { ($0.bound, $0.count) }, uniquingKeysWith: { $1 })
        return PrometheusHistogram(buckets: buckets.map { ($0.bound, $0.count - (before[$0.bound] ?? 0)) },
                                   sum: sum - earlier.sum, count: count - earlier.count)
    }

    /// The upper bound of the bucket holding quantile `q` (0…1), in seconds.
    public func bound(at q: Double) -> Double {
        let target = q * count
        return buckets.first { $0.count >= target && $0.count > 0 }?.bound ?? .infinity
    }

    /// The share of observations above `seconds` (at a bucket bound), 0…1.
    public func share(over seconds: Double) -> Double {
        guard count > 0, let bucket = buckets.last(where: { $0.bound <= seconds }) else { return 0 }
        return (count - bucket.count) / count
    }

    /// "mean 3.1 ms, p50 ≤ 5 ms, p99 ≤ 25 ms".
    public var text: String {
        guard count > 0 else { return "no observations" }
        func milliseconds(_ seconds: Double) -> String {
            seconds.isInfinite ? "∞" : String(Double(Int((seconds * 1000 * 100).rounded())) / 100) + " ms"
        }
        return "mean \(milliseconds(sum / count)), p50 ≤ \(milliseconds(bound(at: 0.5))), p99 ≤ \(milliseconds(bound(at: 0.99))), max ≤ \(milliseconds(bound(at: 1)))"
    }
}
