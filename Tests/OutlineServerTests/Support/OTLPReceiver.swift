import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// An OTLP/HTTP trace receiver in the test process (`POST /v1/traces`, JSON
/// encoding): what a collector would get from the server, kept as spans.
final class OTLPReceiver: Sendable {
    struct Span: Sendable, Equatable {
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        var kind: Int
        var attributes: [String: String]
        var links: [String]
        var service: String
    }

    let url: String
    private let received = Mutex<[Span]>([])
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)

    private init(url: String) { self.url = url }

    var spans: [Span] { received.withLock { $0 } }

    static func start() async throws -> OTLPReceiver {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let box = Mutex<OTLPReceiver?>(nil)
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 32 << 20)
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
                return Response(status: .badRequest)
            }
            box.withLock { $0 }?.received.withLock { $0 += Self.spans(in: object) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
        }
        var logger = Logger(label: "otlp-receiver")
        logger.logLevel = .warning
        let application = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                      onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await application.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        let receiver = OTLPReceiver(url: "http://127.0.0.1:\(port)")
        box.withLock { $0 = receiver }
        receiver.task.withLock { $0 = task }
        return receiver
    }

    func stop() async {
        let task = self.task.withLock { $0 }
        task?.cancel()
        _ = try? await task?.value
    }

    /// The spans of an `ExportTraceServiceRequest` in its JSON encoding (ids in hex, as the OTLP spec says).
    static func spans(in request: [String: Any]) -> [Span] {
        var out: [Span] = []
        for resource in request["resourceSpans"] as? [[String: Any]] ?? [] {
            let resourceAttributes = attributes((resource["resource"] as? [String: Any])?["attributes"])
            for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scope["spans"] as? [[String: Any]] ?? [] {
                    out.append(Span(traceID: hex(span["traceId"]), spanID: hex(span["spanId"]),
                                    parentSpanID: hex(span["parentSpanId"]), name: span["name"] as? String ?? "",
                                    kind: kind(span["kind"]), attributes: attributes(span["attributes"]),
                                    links: (span["links"] as? [[String: Any]] ?? []).map { hex($0["spanId"]) },
                                    service: resourceAttributes["service.name"] ?? ""))
                }
            }
        }
        return out
    }

    /// An id as lower-case hex, whether the exporter wrote hex (the OTLP/JSON rule) or protobuf JSON's base64.
    static func hex(_ value: Any?) -> String {
        guard let text = value as? String, !text.isEmpty else { return "" }
        if (text.count == 32 || text.count == 16), text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return text }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func kind(_ value: Any?) -> Int {
        if let number = value as? Int { return number }
        switch value as? String {
        case "SPAN_KIND_INTERNAL": return 1
        case "SPAN_KIND_SERVER": return 2
        case "SPAN_KIND_CLIENT": return 3
        default: return 0
        }
    }

    static func attributes(_ value: Any?) -> [String: String] {
        var out: [String: String] = [:]
        for attribute in value as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any], let first = value.first else { continue }
            out[key] = "\(first.value)"
        }
        return out
    }
}
