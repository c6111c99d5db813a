import Foundation

/// The last day of one latency, hour by hour, for the diagnostics page's
/// charts. Each wall-clock hour keeps a bounded reservoir of its samples (a
/// uniform sample of that hour however busy it was: Vitter's algorithm R), so
/// a day costs at most `hours × reservoirSize` numbers and each hour's p50 and
/// p95 are read from what it kept. Hours older than the day are dropped.
public struct HourlyLatencyHistory: Sendable {
    public struct Hour: Sendable, Equatable, Encodable {
        public var start: Date
        /// Samples the hour saw (not only those it kept).
        public var count: Int
        public var p50: Double
        public var p95: Double
    }

    struct Bucket: Sendable {
        var seen = 0
        var samples: [Double] = []
    }

    public let hours: Int
    public let reservoirSize: Int
    private var buckets: [Int64: Bucket] = [:]

    public init(hours: Int = 24, reservoirSize: Int = 512) {
        precondition(hours > 0 && reservoirSize > 0)
        self.hours = hours
        self.reservoirSize = reservoirSize
    }

    static func hourIndex(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / 3600).rounded(.down)) }

    public mutating func record(_ seconds: Double, at date: Date, using random: inout some RandomNumberGenerator) {
        guard seconds.isFinite, seconds >= 0 else { return }
        let index = Self.hourIndex(date)
        var bucket = buckets[index] ?? Bucket()
        bucket.seen += 1
        if bucket.samples.count < reservoirSize {
            bucket.samples.append(seconds)
        } else {
            let slot = Int.random(in: 0..<bucket.seen, using: &random)
            if slot < reservoirSize { bucket.samples[slot] = seconds }
        }
        buckets[index] = bucket
        if buckets.count > hours { buckets = buckets.filter { $0.key > index - Int64(hours) } }
    }

    public mutating func record(_ seconds: Double, at date: Date = Date()) {
        var random = SystemRandomNumberGenerator()
        record(seconds, at: date, using: &random)
    }

    /// The hours of the last day that saw samples, oldest first.
    public func lastDay(now: Date = Date()) -> [Hour] {
        let current = Self.hourIndex(now)
        return buckets.filter { $0.key > current - Int64(hours) && $0.key <= current && !$0.value.samples.isEmpty }
            .sorted { $0.key < $1.key }
            .map { index, bucket in
                let sorted = bucket.samples.sorted()
                func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.up)) - 1))] }
                return Hour(start: Date(timeIntervalSince1970: Double(index) * 3600), count: bucket.seen, p50: at(0.5), p95: at(0.95))
            }
    }
}
