import EventLog
import Foundation
import HTTPTypes
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
        group.get("/sessions/:sessionId/replay") { request, context in try await replay(request, context) }
        group.get("/sessions/:sessionId/verify") { request, context in try await verify(request, context) }
    }

    /// `GET /api/sessions/{id}/verify`: the session's hash chain walked on the
    /// server, for an analyst auditing one session without database access.
    /// Always 200: a broken chain is a finding, not a request error.
    func verify(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let session = try RequestInput.uuid(context.parameters.get("sessionId"), field: "sessionId")
        _ = try await parts.reachable(session, workflow: nil, identity: identity)
        let report = try await ChainVerifier(pool: parts.store.pool).verify(session: session)
        return try JSONResponse.make(VerifyView(session: session, report: report))
    }

    struct VerifyView: Encodable {
        struct BrokenLink: Encodable {
            var sequence: Int32, position: Int64?, differs: String, reason: String, storedLink: String?, recomputedLink: String?
        }
        var sessionId: String
        var intact: Bool
        var events: Int64
        var storedBytes: Int64
        var rawBytes: Int64
        var brokenLink: BrokenLink?
        /// Events whose content was redacted on the record (the chain verifies through their kept digests).
        var redactions: [Redaction]

        struct Redaction: Encodable {
            var sequence: Int32, type: String, auditSequence: Int64?, at: String?, by: String?, reason: String?
        }

        init(session: UUID, report: ChainVerifier.Report) {
            redactions = report.redactions.map {
                Redaction(sequence: $0.sequence, type: $0.eventType, auditSequence: $0.redaction?.audit, at: $0.redaction?.at,
                          by: $0.redaction?.by, reason: $0.redaction?.reason)
            }
            sessionId = session.uuidString.lowercased()
            intact = report.isIntact
            events = report.events
            storedBytes = report.storedBytes
            rawBytes = report.rawBytes
            brokenLink = report.breaks.first.map {
                BrokenLink(sequence: $0.sequence, position: $0.position, differs: $0.differs.rawValue, reason: $0.reason,
                           storedLink: $0.storedLink, recomputedLink: $0.recomputedLink)
            }
        }
    }

    /// `GET /api/sessions/{id}/replay?speed=10&after=N`: a past session played
    /// back through the same SSE format as live streams, at `speed` × (1 as it
    /// happened, 0 = as fast as possible); the stream ends after its last event.
    /// The page's EventSource opens it with the session's stream token (it cannot
    /// send headers) and resumes a dropped playback with `Last-Event-ID`.
    func replay(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()   // a stream token is scoped to its session by reachableSession
        let session = try RequestInput.uuid(context.parameters.get("sessionId"), field: "sessionId")
        var after = Int32(try RequestInput.integer(request, "after", in: 0...Int64(Int32.max)) ?? 0)
        if let header = request.headers[HTTPField.Name("Last-Event-ID")!] {
            guard let resumed = Int32(header), resumed >= 0 else {
                throw APIError.invalid("Last-Event-ID", "Last-Event-ID is the sequence of the last event received (a non-negative integer).", code: "invalid_cursor")
            }
            after = max(after, resumed)
        }
        let speedText = request.uri.queryParameters.get("speed").map { String($0) } ?? "1"
        guard speedText.utf8.count <= 32, let speed = Double(speedText), ReplayPacer.accepts(speed: speed) else {
            throw APIError.invalid("speed", "speed is 0 (as fast as possible) or a number from \(ReplayPacer.minimumSpeed) to \(Int(ReplayPacer.maximumSpeed)); 1 is real time.",
                                   code: "invalid_speed")
        }
        // The head at admission: a standby serving the playback must reach it (`ReplicaAwareReads`).
        let head = try await parts.reachable(session, workflow: nil, identity: identity).lastEventSequence
        let reads = parts.reads, hub = parts.hub, heartbeat = parts.hub.settings.heartbeat
        let start = after
        let ticket = try parts.streamGate.admit(identity.subject)
        return Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"], body: ResponseBody { writer in
            defer { ticket.release() }
            var pacer = ReplayPacer(speed: speed)
            var cursor = start
            var lastWrite = ContinuousClock.now
            replay: while !hub.isClosed {
                let page = try await reads.readFeed(session: session, after: cursor, through: head, limit: 1000)
                if page.isEmpty { break }
                var buffer = ByteBuffer()
                for event in page {
                    if let due = pacer.due(event.recordedAt) {
                        if buffer.readableBytes > 0 { try await writer.write(buffer); buffer.clear(); lastWrite = .now }
                        // Wait in slices: a heartbeat notices a gone client, and a
                        // shutting-down instance ends the playback (the page resumes
                        // it elsewhere with Last-Event-ID).
                        while due > .now {
                            if hub.isClosed { break replay }
                            try await Task.sleep(until: min(due, .now + .milliseconds(250)), clock: .continuous)
                            if ContinuousClock.now - lastWrite >= heartbeat {
                                try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                                lastWrite = .now
                            }
                        }
                    }
                    var bytes = SSEFrame(event).bytes
                    buffer.writeBuffer(&bytes)
                    cursor = event.sequence
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer); lastWrite = .now }
                if page.count < 1000 { break }
            }
            try await writer.finish(nil)
        })
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
        let row = try await parts.reachable(session, workflow: nil, identity: identity)
        let events = try await parts.reads.read(session: session, after: Int32(after), through: row.lastEventSequence, limit: Int(limit))
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
        text += ",\"chainLink\":\"\(Hex.encode(event.chainLink))\",\"payload\":"
        var bytes = Array(text.utf8)
        bytes += event.json.isEmpty ? Array("null".utf8) : event.json
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}
