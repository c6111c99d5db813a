import Foundation
import OutlineBasics
import Testing

/// The diagnostics charts' figures: a day of latencies, hour by hour, bounded.
@Suite("Hourly latency history: a day of p50 and p95 in bounded memory")
struct HourlyLatencyHistoryTests {
    struct Counter: RandomNumberGenerator {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func next() -> UInt64 { state &+= 0x9E37_79B9_7F4A_7C15; var z = state; z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; return z ^ (z >> 31) }
    }

    @Test("each hour's quantiles come from its own samples; hours without samples are absent; the future and the day before are not shown")
    func hours() {
        var history = HourlyLatencyHistory(hours: 24, reservoirSize: 1000)
        var random = Counter()
        let now = Date(timeIntervalSince1970: 1_800_000_000)   // 2027-01-15 08:00 UTC, on the hour
        for value in 1...100 { history.record(Double(value) / 100, at: now.addingTimeInterval(-3 * 3600 + 5), using: &random) }
        for value in 1...20 { history.record(Double(value), at: now.addingTimeInterval(10), using: &random) }
        history.record(99, at: now.addingTimeInterval(-25 * 3600), using: &random)
        history.record(.nan, at: now, using: &random)
        history.record(-1, at: now, using: &random)
        let day = history.lastDay(now: now.addingTimeInterval(60))
        #expect(day.map(\.start) == [now.addingTimeInterval(-3 * 3600), now])
        #expect(day[0].count == 100 && day[0].p50 == 0.5 && day[0].p95 == 0.95)
        #expect(day[1].count == 20 && day[1].p50 == 10 && day[1].p95 == 19)
    }

    @Test("a busy hour keeps at most its reservoir, still a fair sample of the hour; older hours leave as new ones come")
    func bounded() {
        var history = HourlyLatencyHistory(hours: 3, reservoirSize: 200)
        var random = Counter()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<100_000 { history.record(Double(index % 1000), at: now, using: &random) }
        let busy = history.lastDay(now: now)[0]
        #expect(busy.count == 100_000)
        // Uniform on 0…999: the kept sample's median is near 500 and its p95 near 950.
        #expect(abs(busy.p50 - 500) < 120 && abs(busy.p95 - 950) < 60, "\(busy)")
        for hour in 1...5 { history.record(1, at: now.addingTimeInterval(Double(hour) * 3600), using: &random) }
        let later = history.lastDay(now: now.addingTimeInterval(5 * 3600))
        #expect(later.count == 3 && later.first?.start == now.addingTimeInterval(3 * 3600))
    }
}
