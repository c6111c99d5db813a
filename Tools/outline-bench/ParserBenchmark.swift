import BenchmarkSupport
import Foundation
import OpenAIResponses

/// Throughput of the provider stream path without the network: SSE framing
/// and typed decoding of the recorded web-search stream, repeated.
struct ParserBenchmark {
    var fixtures: URL
    var megabytes: Int

    func run() throws {
        let payloads = try String(contentsOf: fixtures.appendingPathComponent("openai-web-search-tool.1.chunks.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        var one = ""
        for payload in payloads {
            let type = (try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])?["type"] as? String ?? "message"
            one += "event: \(type)\ndata: \(payload)\n\n"
        }
        let bytes = Array(one.utf8)
        let rounds = max(1, megabytes * 1_000_000 / bytes.count)
        var events = 0
        var start = ContinuousClock.now
        for _ in 0..<rounds {
            var parser = ServerSentEventParser()
            var index = 0
            while index < bytes.count {
                let end = min(bytes.count, index + 1400) // about one TCP segment at a time
                events += parser.feed(bytes[index..<end]).count
                index = end
            }
        }
        let parseSeconds = seconds(since: start)
        let total = Double(bytes.count * rounds) / 1_000_000
        print(String(format: "sse parser: %.1f MB in %.2f s = %.0f MB/s (%d events, %.0f events/s), fed 1,400 bytes at a time",
                     total, parseSeconds, total / parseSeconds, events, Double(events) / parseSeconds))
        var parser = ServerSentEventParser()
        let framed = parser.feed(bytes) + parser.finish()
        start = ContinuousClock.now
        var decoded = 0
        for _ in 0..<max(1, rounds / 4) {
            for event in framed {
                _ = try ResponseStreamEvent.decode(event.data)
                decoded += 1
            }
        }
        let decodeSeconds = seconds(since: start)
        print(String(format: "event decoding: %d typed events in %.2f s = %.0f events/s (recorded web-search stream, avg %d B/event)",
                     decoded, decodeSeconds, Double(decoded) / decodeSeconds, bytes.count / framed.count))
    }
}
