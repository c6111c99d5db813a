import EventLog
import Foundation
import Hummingbird
import NIOCore
import OutlineProjections

/// `GET /api/sessions/{sessionId}/events?after=N&limit=M`: a session's raw
/// events for analysts, paged by sequence, as JSON (default) or NDJSON
/// (`format=ndjson` or `Accept: application/x-ndjson`): one decoded event per
/// line with stable field names, the payload as stored.
struct SessionEventsRoutes: Sendable {
    let parts: ServiceParts
    static let maxLimit: Int64 = 10_000

    func register(on group: RouterGroup<OutlineRequestContext>) {
        group.get("/sessions/:sessionId/events") { request, context in try await events(request, context) }
    }

    func events(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let session = try RequestInput.uuid(context.parameters.get("sessionId"), field: "sessionId")
        let after = try RequestInput.integer(request, "after", in: 0...Int64(Int32.max)) ?? 0
        let limit = try RequestInput.integer(request, "limit", in: 1...Self.maxLimit) ?? 1000
        let format = request.uri.queryParameters.get("format").map { String($0) }
        guard format == nil || format == "json" || format == "ndjson" else {
            throw APIError.invalid("format", "format is json or ndjson.", code: "invalid_format")
        }
        let ndjson = format == "ndjson" || (format == nil && (request.headers[.accept] ?? "").contains("application/x-ndjson"))
        let row = try await parts.reachableSession(session, workflowID: nil, identity: identity)
        let events = try await parts.store.read(session: session, after: Int32(after), limit: Int(limit))
        if ndjson {
            var buffer = ByteBuffer()
            for event in events {
                buffer.writeBytes(Self.json(event))
                buffer.writeStaticString("\n")
            }
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: ResponseBody(byteBuffer: buffer))
        }
        var buffer = ByteBuffer()
        buffer.writeString("{\"sessionId\":\"\(session.uuidString.lowercased())\",\"workflowId\":")
        buffer.writeBytes(try JSONEncoder().encode(row.workflowId))
        buffer.writeString(",\"head\":\(row.lastEventSequence),\"after\":\(after),\"events\":[")
        for (index, event) in events.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeBytes(Self.json(event))
        }
        let next = events.count == Int(limit) ? "\(events.last!.sequence)" : "null"
        buffer.writeString("],\"nextAfter\":\(next)}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
    }

    /// One event as analysts read it; the payload is the stored JSON, verbatim.
    static func json(_ event: RecordedEvent) -> [UInt8] {
        var text = "{\"sequence\":\(event.sequence),\"position\":\(event.position),\"type\":\"\(event.eventType)\",\"schemaVersion\":\(event.schemaVersion)"
        text += ",\"providerSequence\":\(event.providerSequence.map(String.init) ?? "null")"
        text += ",\"recordedAt\":\"\(TimestampText.format(event.recordedAt))\""
        text += ",\"codec\":\"\(event.codec)\",\"storedSize\":\(event.storedSize),\"rawSize\":\(event.rawSize)"
        text += ",\"chainLink\":\"\(event.chainLink.map { String(format: "%02x", $0) }.joined())\",\"payload\":"
        var bytes = Array(text.utf8)
        bytes += event.json.isEmpty ? Array("null".utf8) : event.json
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}
