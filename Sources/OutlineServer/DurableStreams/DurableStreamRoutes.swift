import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OutlineProjections

/// `HEAD|GET /api/sessions/{id}/durable-stream`: every session readable by a
/// Durable Streams 1.0 client (ElectricSQL's protocol: its readers in several
/// languages and the Vercel AI SDK transport), read side only, JSON mode.
///
/// Each message is one event of the session's log, `{"sequence", "type",
/// "recordedAt", "payload"}`, the payload as stored. Offsets are the sequence
/// before the next message (`DurableStreamOffset`), so a reader resuming from
/// the last `Stream-Next-Offset` it saw gets exactly the events after it: the
/// same no-gap, no-duplicate rule as our SSE route, read from the same log
/// (hot rows, segments and packs alike). A session is a closed stream once it
/// has ended (`Stream-Closed: true` at its tail). Authentication is the SSE
/// route's: an API token, or the session's stream token as `?token=`.
struct DurableStreamRoutes: Sendable {
    let parts: ServiceParts
    /// Events per catch-up response, at most.
    static let chunkLimit = 1000
    static let defaultLongPollSeconds: Int64 = 20
    /// The protocol asks SSE connections to end about every 60 s (collapsing at a CDN); the reader reconnects from its offset.
    static let sseLifetime: Duration = .seconds(60)
    static let path = "/sessions/:sessionId/durable-stream"

    func register(on group: RouterGroup<OutlineRequestContext>) {
        group.head(RouterPath(stringLiteral: Self.path)) { request, context in try await metadata(request, context) }
        group.get(RouterPath(stringLiteral: Self.path)) { request, context in try await read(request, context) }
    }

    // MARK: What every response says

    /// What a read saw of the session's log.
    struct Page {
        var events: [FeedEvent]
        /// The sequence the next read starts after.
        var next: Int32
        /// Everything the log held after the offset is in `events`.
        var upToDate: Bool
        var closed: Bool
    }

    /// `known`: a sequence the caller knows was committed (a batch the hub announced);
    /// with the head at admission, what a standby serving the read must reach.
    func page(_ session: UUID, after: Int32, access: SessionAccess, known: Int32 = 0) async throws -> Page {
        let reads = parts.reads, head = max(access.lastEventSequence, known)
        let events = try await inOwnTask { try await reads.readFeed(session: session, after: after, through: head, limit: Self.chunkLimit) }
        let upToDate = events.count < Self.chunkLimit
        // An ended session's terminal event is its last: once a read reaches it, nothing ever follows.
        let closed = upToDate && (events.last?.isTerminal == true || access.status.isTerminal)
        return Page(events: events, next: events.last?.sequence ?? after, upToDate: upToDate, closed: closed)
    }

    static func headers(_ page: Page, cacheable: Bool) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json", Names.nextOffset: DurableStreamOffset.token(page.next)]
        if page.upToDate { fields[Names.upToDate] = "true" }
        if page.closed { fields[Names.closed] = "true" }
        // A range of an ended session, or one short of the tail, never changes; the tail of a live session does.
        fields[.cacheControl] = cacheable && (page.closed || !page.upToDate) ? "private, max-age=60, stale-while-revalidate=300" : "no-store"
        fields[Names.resourcePolicy] = "same-origin"
        return fields
    }

    enum Names {
        static let nextOffset = HTTPField.Name("Stream-Next-Offset")!
        static let upToDate = HTTPField.Name("Stream-Up-To-Date")!
        static let closed = HTTPField.Name("Stream-Closed")!
        static let cursor = HTTPField.Name("Stream-Cursor")!
        static let resourcePolicy = HTTPField.Name("Cross-Origin-Resource-Policy")!
        static let ifNoneMatch = HTTPField.Name("If-None-Match")!
    }

    /// One message: the event as the stream carries it.
    static func message(_ event: FeedEvent, into buffer: inout ByteBuffer) {
        buffer.writeString("{\"sequence\":\(event.sequence),\"type\":\"\(event.eventType)\",\"recordedAt\":\"\(TimestampText.format(event.recordedAt))\",\"payload\":")
        if event.json.isEmpty { buffer.writeStaticString("null") } else { buffer.writeBytes(event.json) }
        buffer.writeStaticString("}")
    }

    static func array(_ events: [FeedEvent]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.reduce(2) { $0 + $1.json.count + $1.eventType.utf8.count + 80 })
        buffer.writeStaticString("[")
        for (index, event) in events.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            message(event, into: &buffer)
        }
        buffer.writeStaticString("]")
        return buffer
    }

    /// The session, reachable by this caller (404 otherwise, 410 once retention removed it).
    func access(_ request: Request, _ context: OutlineRequestContext) async throws -> (UUID, SessionAccess, AccessToken) {
        let identity = try context.requireIdentity()   // a stream token is scoped to its session by `reachable`
        let session = try RequestInput.uuid(context.parameters.get("sessionId"), field: "sessionId")
        return (session, try await parts.reachable(session, workflow: nil, identity: identity), identity)
    }

    // MARK: HEAD

    func metadata(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let (_, access, _) = try await access(request, context)
        var fields: HTTPFields = [.contentType: "application/json", Names.nextOffset: DurableStreamOffset.token(access.lastEventSequence), .cacheControl: "no-store"]
        if access.status.isTerminal { fields[Names.closed] = "true" }
        return Response(status: .ok, headers: fields)
    }

    // MARK: GET

    func read(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let live = query.get("live").map { String($0) }
        guard live == nil || live == "long-poll" || live == "sse" else {
            throw APIError.invalid("live", "live is long-poll or sse (or absent for a catch-up read).", code: "invalid_live")
        }
        let offset = try DurableStreamOffset.parse(query.get("offset").map { String($0) })
        // The protocol asks live readers for an offset; one without reads from the beginning, as a catch-up read does.
        let seconds = try RequestInput.integer(request, "timeout", in: 0...60) ?? Self.defaultLongPollSeconds
        let (session, access, identity) = try await access(request, context)
        if case .after(let after) = offset, access.status.isTerminal, after > access.lastEventSequence {
            throw APIError.invalid("offset", "offset \(DurableStreamOffset.token(after)) is beyond the end of this ended session (\(DurableStreamOffset.token(access.lastEventSequence))).",
                                   code: "offset_beyond_tail")
        }
        switch live {
        case "sse":
            return try sse(session, from: offset ?? .after(0), access: access, identity: identity)
        case "long-poll":
            return try await longPoll(session, from: offset ?? .after(0), access: access, identity: identity,
                                      timeout: .seconds(seconds), echoedCursor: query.get("cursor").map { String($0) })
        default:
            return try await catchUp(session, from: offset ?? .after(0), access: access, request: request)
        }
    }

    func catchUp(_ session: UUID, from offset: DurableStreamOffset, access: SessionAccess, request: Request) async throws -> Response {
        guard case .after(let after) = offset else {
            // `now`: no messages, the tail, never cached.
            var fields = Self.headers(Page(events: [], next: access.lastEventSequence, upToDate: true, closed: access.status.isTerminal), cacheable: false)
            fields[.cacheControl] = "no-store"
            return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: "[]")))
        }
        let page = try await page(session, after: after, access: access)
        var fields = Self.headers(page, cacheable: true)
        let etag = "\"\(session.uuidString.lowercased()):\(DurableStreamOffset.token(after)):\(DurableStreamOffset.token(page.next))\(page.closed ? ":closed" : "")\""
        fields[.eTag] = etag
        if let given = request.headers[Names.ifNoneMatch], given.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) {
            return Response(status: .notModified, headers: fields)
        }
        return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: Self.array(page.events)))
    }

    /// Answers at once when there is something after the offset (or the session
    /// ended there); otherwise waits for the session's next events up to `timeout`.
    func longPoll(_ session: UUID, from offset: DurableStreamOffset, access: SessionAccess, identity: AccessToken,
                  timeout: Duration, echoedCursor: String?) async throws -> Response {
        let ticket = try parts.streamGate.admit(identity.subject)
        defer { ticket.release() }
        // Subscribed before the log is read: an event committed in between is announced, not missed.
        let subscription = parts.hub.subscribe(session)
        defer { subscription.cancel() }
        let deadline = ContinuousClock.now + timeout
        var after: Int32
        var announced: Int32 = 0
        var waitFirst = false
        switch offset {
        case .now: after = access.lastEventSequence; waitFirst = !access.status.isTerminal
        case .after(let value): after = value
        }
        while true {
            if !waitFirst {
                let page = try await page(session, after: after, access: access, known: announced)
                var fields = Self.headers(page, cacheable: true)
                fields[Names.cursor] = DurableStreamCursor.next(echoed: echoedCursor)
                if !page.events.isEmpty {
                    fields[.eTag] = "\"\(session.uuidString.lowercased()):\(DurableStreamOffset.token(after)):\(DurableStreamOffset.token(page.next))\(page.closed ? ":closed" : "")\""
                    return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: Self.array(page.events)))
                }
                if page.closed { return Response(status: .noContent, headers: fields) }
            }
            waitFirst = false
            let remaining = deadline - .now
            guard remaining > .zero, !parts.hub.isClosed else { break }
            let items: [SubscriberMailbox.Item]? = await withTaskGroup(of: [SubscriberMailbox.Item]?.self) { group in
                group.addTask { await subscription.mailbox.next() }
                group.addTask { try? await Task.sleep(for: remaining); return nil }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let items, !items.isEmpty else { break }
            for case .batch(let batch) in items {
                subscription.consumed(bytes: batch.byteCount)
                announced = max(announced, batch.last)
            }
            if items.contains(where: { if case .closed = $0 { return true } else { return false } }) { break }
        }
        var fields = Self.headers(Page(events: [], next: after, upToDate: true, closed: false), cacheable: false)
        fields[Names.cursor] = DurableStreamCursor.next(echoed: echoedCursor)
        return Response(status: .noContent, headers: fields)
    }

    func sse(_ session: UUID, from offset: DurableStreamOffset, access: SessionAccess, identity: AccessToken) throws -> Response {
        let ticket = try parts.streamGate.admit(identity.subject)
        let subscription = parts.hub.subscribe(session)
        let routes = self
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
            HTTPField.Name("X-Accel-Buffering")!: "no", Names.resourcePolicy: "same-origin",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer {
                subscription.cancel()
                ticket.release()
            }
            let ends = ContinuousClock.now + Self.sseLifetime
            var after: Int32
            var announced: Int32 = 0
            var sentControl = false
            switch offset {
            case .now: after = access.lastEventSequence
            case .after(let value): after = value
            }
            // Everything the log holds after the cursor is sent whenever the hub announces more.
            var pendingRead = true
            if case .now = offset, !access.status.isTerminal {
                var out = ByteBuffer()
                Self.controlEvent(Page(events: [], next: after, upToDate: true, closed: false), into: &out)
                sentControl = true
                try await writer.write(out)
                pendingRead = false
            }
            stream: while true {
                while pendingRead {
                    let page = try await routes.page(session, after: after, access: access, known: announced)
                    if page.events.isEmpty, sentControl, !page.closed { break }
                    var out = ByteBuffer()
                    if !page.events.isEmpty { Self.dataEvent(page.events, into: &out) }
                    after = page.next
                    Self.controlEvent(page, into: &out)
                    sentControl = true
                    try await writer.write(out)
                    if page.closed { break stream }
                    if page.upToDate { pendingRead = false }
                }
                pendingRead = false
                guard ContinuousClock.now < ends else { break }
                let items = await subscription.mailbox.next()
                if items.isEmpty { break }
                var heartbeat = false, ending = false
                for item in items {
                    switch item {
                    case .batch(let batch):
                        subscription.consumed(bytes: batch.byteCount)
                        announced = max(announced, batch.last)
                        if batch.last > after { pendingRead = true }
                    case .heartbeat: heartbeat = true
                    case .closed: ending = true
                    }
                }
                if !pendingRead, heartbeat { try await writer.write(ByteBuffer(string: ": heartbeat\n\n")) }
                if ending { break }
            }
            try await writer.finish(nil)
        })
    }

    /// `event: data` with the messages as one JSON array, a message per `data:` line.
    static func dataEvent(_ events: [FeedEvent], into out: inout ByteBuffer) {
        out.writeStaticString("event: data\ndata: [\n")
        for (index, event) in events.enumerated() {
            out.writeStaticString("data: ")
            message(event, into: &out)
            out.writeStaticString(index == events.count - 1 ? "\n" : ",\n")
        }
        out.writeStaticString("data: ]\n\n")
    }

    /// `event: control` after every data event: the next offset, and either the
    /// cursor (open) or `streamClosed` (the session ended; the server then ends the stream).
    static func controlEvent(_ page: Page, into out: inout ByteBuffer) {
        var text = "{\"streamNextOffset\":\"\(DurableStreamOffset.token(page.next))\""
        if page.closed {
            text += ",\"streamClosed\":true,\"upToDate\":true"
        } else {
            text += ",\"streamCursor\":\"\(DurableStreamCursor.next(echoed: nil))\""
            if page.upToDate { text += ",\"upToDate\":true" }
        }
        out.writeString("event: control\ndata: \(text)}\n\n")
    }
}
