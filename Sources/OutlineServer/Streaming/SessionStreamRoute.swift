import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import Tracing
import OutlineBasics
import NIOCore
import OutlineProjections

/// `GET .../stream?sessionId=`: a session's events as Server-Sent Events
/// (CONTRACT §5), resuming exactly after the client's Last-Event-ID.
///
/// Order of work, which is what makes "no gap, no duplicate" hold: subscribe
/// to the live hub first, then send the backlog from the log after the cursor,
/// then the live frames, skipping any the backlog already covered and
/// reading from the log again if the live feed skipped ahead. The cursor only
/// moves by events actually written, so a reconnect continues from exactly there.
struct SessionStreamRoute: Sendable {
    let parts: ServiceParts
    static let retryMilliseconds = 2000
    private let sent = Counter(label: "outline_sse_events_sent_total")

    init(parts: ServiceParts) { self.parts = parts }

    func register(on group: RouterGroup<OutlineRequestContext>) {
        group.get("stream") { request, context in try await stream(request, context) }
    }

    /// Where a client starts: after a cursor (Last-Event-ID, or the query for
    /// first connects and polyfills), from the start (`from=0`), or with a snapshot.
    enum Start: Equatable {
        case after(Int32)
        case snapshot
    }

    static func start(of request: Request) throws -> Start {
        let query = request.uri.queryParameters
        let header = request.headers[HTTPField.Name("Last-Event-ID")!]
        let given: (String, String)? = header.map { ("Last-Event-ID", $0) }
            ?? query.get("lastEventId").map { ("lastEventId", String($0)) }
            ?? query.get("last_event_id").map { ("last_event_id", String($0)) }
        if let (field, text) = given {
            guard let value = Int32(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                throw APIError.invalid(field, "\(field) must be the id of an event this stream sent (a sequence number ≥ 0); got \(String(text.prefix(40)).debugDescription).",
                                       code: "invalid_last_event_id")
            }
            return .after(value)
        }
        if let from = query.get("from") {
            guard from == "0" else { throw APIError.invalid("from", "from accepts only 0 (the whole history).", code: "invalid_from") }
            return .after(0)
        }
        return .snapshot
    }

    func stream(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let workflow = try WorkflowScope.of(request, context, identity: identity)
        let session = try RequestInput.sessionIDQuery(request)
        let start = try Self.start(of: request)
        let access = try await parts.reachable(session, workflow: workflow, identity: identity)
        if case .after(let cursor) = start, access.status.isTerminal, cursor >= access.lastEventSequence {
            // Past the terminal event: tells EventSource to stop reconnecting.
            return Response(status: .noContent)
        }
        // The whole row (with its texts) only for the snapshot a new client gets.
        let snapshot: OutlineSessionRow?
        if start == .snapshot {
            guard let row = try await parts.sessions.row(session) else { throw ServiceParts.sessionNotFound(session) }
            snapshot = row
        } else {
            snapshot = nil
        }
        let ticket = try parts.streamGate.admit(identity.subject)
        let subscription = parts.hub.subscribe(session)
        let reads = parts.reads
        let sent = self.sent
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache",
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        // The body runs after the request's span ended: the connection gets a span of its own under it.
        let requestContext = ServiceContext.current ?? .topLevel
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            // A client that goes away is noticed by the next write failing: live
            // events, or at the latest the heartbeat. (Watching the inbound side
            // for a close costs a task group per connection, ~6 KB each.)
            defer {
                subscription.cancel()
                ticket.release()
            }
            let span = startSpan("sse.connection", context: requestContext, ofKind: .server)
            span.attributes["outline.session.id"] = session.uuidString.lowercased()
            defer { span.end() }
            var stream = SessionStreamWriter(reads: reads, session: session, subscription: subscription, sent: sent)
            do {
                try await stream.run(start: start, snapshot: snapshot) { try await writer.write(contentsOf: $0) }
                span.attributes["outline.sse.last_event_id"] = Int(stream.cursor)
                try await writer.finish(nil)
            } catch {
                span.attributes["outline.sse.last_event_id"] = Int(stream.cursor)
                span.recordError(error)
                throw error
            }
        })
    }
}

/// The per-connection loop of the SSE stream, apart from HTTP.
struct SessionStreamWriter {
    /// From the runner receiving an event to its bytes handed to the connection (live frames).
    static let deliveryLatency = Timer(label: "outline_sse_delivery_seconds")
    /// From a batch reaching the hub to its bytes written to this connection.
    static let feedToWrite = Timer(label: "outline_live_stage_seconds", dimensions: [("stage", "feed_to_write")])
    /// Backlogs may come from a standby: each backfill that must reach a known
    /// sequence (the feed's start, a batch's first) says so, and gets it.
    let reads: ReplicaAwareReads
    let session: UUID
    let subscription: LiveEventHub.Subscription
    let sent: Counter
    /// The last sequence this client has been sent.
    private(set) var cursor: Int32 = 0
    private var ended = false

    init(reads: ReplicaAwareReads, session: UUID, subscription: LiveEventHub.Subscription, sent: Counter) {
        self.reads = reads
        self.session = session
        self.subscription = subscription
        self.sent = sent
    }

    mutating func run(start: SessionStreamRoute.Start, snapshot: OutlineSessionRow?, write: ([ByteBuffer]) async throws -> Void) async throws {
        try await write([ByteBuffer(string: "retry: \(SessionStreamRoute.retryMilliseconds)\n\n")])
        switch start {
        case .after(let after):
            cursor = after
        case .snapshot:
            guard let row = snapshot else { return }
            try await write([SSEFrame(sequence: row.lastEventSequence, event: "snapshot", data: try SessionView(row).json()).bytes])
            cursor = row.lastEventSequence
            if row.status.isTerminal { return }
        }
        try await backfill(upTo: nil, write: write)
        if ended { return }
        // The feed delivers only what follows its start; anything committed between
        // this backlog and that start comes from the log too.
        let start = await subscription.feedStart.value
        if start > cursor {
            try await backfill(upTo: start, write: write)
            if ended { return }
        }
        while true {
            // Everything the hub queued while this client was writing goes out in one write.
            let items = await subscription.mailbox.next()
            if items.isEmpty { return }
            var out: [ByteBuffer] = []
            var count = 0, size = 0
            var heartbeat = false, closing = false
            var fedAt: ContinuousClock.Instant?, recordedAt: Date?
            for item in items {
                switch item {
                case .batch(let batch):
                    size += batch.byteCount
                    guard batch.last > cursor else {
                        // A cursor beyond the head waited; the session ended below it.
                        if batch.terminal != nil { ended = true }
                        continue
                    }
                    if batch.first > cursor + 1 {
                        // The feed is ahead of this client: take the missing part from the log, in order.
                        if !out.isEmpty { try await write(out) }
                        out.removeAll()
                        try await backfill(upTo: batch.first - 1, write: write)
                        if ended { break } // leaves the switch; the loop ends below
                    }
                    let through = batch.terminal ?? batch.last
                    if let bytes = batch.frames(after: cursor, through: through) {
                        out.append(bytes)
                        count += Int(through - cursor)
                        cursor = through
                        fedAt = batch.fedAt
                        recordedAt = batch.recordedAt
                    }
                    if batch.terminal != nil { ended = true }
                case .heartbeat:
                    heartbeat = true
                case .closed:
                    closing = true
                }
                if ended { break }
            }
            if out.isEmpty, heartbeat, !ended { out.append(SSEFrame.heartbeat) }
            if !out.isEmpty { try await write(out) }
            if count > 0 {
                if let fedAt { Self.feedToWrite.recordNanoseconds((ContinuousClock.now - fedAt).saturatingNanoseconds) }
                if let recordedAt {
                    Self.deliveryLatency.recordNanoseconds(Date().timeIntervalSince(recordedAt).clampedNanoseconds)
                    LiveSignals.shared.record(.delivery, seconds: Date().timeIntervalSince(recordedAt))
                }
                sent.increment(by: count)
            }
            subscription.consumed(bytes: size)
            if ended || closing { return }
        }
    }

    /// Sends the log's events after the cursor (up to `limit` when given), page by page.
    private mutating func backfill(upTo limit: Int32?, write: ([ByteBuffer]) async throws -> Void) async throws {
        while !ended {
            if let limit, cursor >= limit { return }
            let (reads, session, after) = (self.reads, self.session, self.cursor)
            // The body runs on the connection's task: the query's deep frames go in a short one (see `OwnTaskResponder`).
            let page = try await inOwnTask { try await reads.readFeed(session: session, after: after, through: limit ?? 0, limit: 2000) }
            var buffer = ByteBuffer()
            buffer.reserveCapacity(page.reduce(0) { $0 + $1.json.count + $1.eventType.utf8.count + 32 })
            var count = 0
            for event in page {
                if let limit, event.sequence > limit { break }
                SSEFrame.render(id: event.sequence, event: event.eventType, data: event.json, into: &buffer)
                cursor = event.sequence
                count += 1
                if event.isTerminal { ended = true; break }
            }
            if count > 0 {
                try await write([buffer])
                sent.increment(by: count)
            }
            if page.count < 2000 { return }
        }
    }
}
