import BenchmarkSupport
import Foundation

/// What one fan-out measured, whoever served it (the service or an anchor), so
/// the `compare` scenario can print every figure beside its anchors.
struct FanOutFigures {
    var delivered = 0
    var seconds = 0.0
    var latency = LatencySummary([])
    /// CPU seconds the server (or anchor) used while it streamed.
    var serverCPU = 0.0
    /// Clients that saw a gap, a duplicate or a wrong order, or failed.
    var wrongClients = 0
    var toolCores = 0.0

    var rate: Double { seconds > 0 ? Double(delivered) / seconds : 0 }
    var cores: Double { seconds > 0 ? serverCPU / seconds : 0 }
    var microsecondsPerDelivery: Double { serverCPU / Double(max(delivered, 1)) * 1e6 }

    /// "40,012/s · p50 3.1 · p99 12.0 · max 40.2 ms · 21.3 µs · 0 wrong" for one table cell.
    var cell: String {
        func ms(_ value: Double) -> String { value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value) }
        let rate = String(format: "%.0f", self.rate), cpu = String(format: "%.1f", microsecondsPerDelivery)
        return "\(rate)/s · p50 \(ms(latency.percentile(0.5))) · p99 \(ms(latency.percentile(0.99))) · max \(ms(latency.sorted.last ?? 0)) ms · \(cpu) µs"
            + (wrongClients > 0 ? " · \(wrongClients) clients wrong" : "")
    }
}
