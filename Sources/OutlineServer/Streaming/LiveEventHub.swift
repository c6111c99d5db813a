import EventLog
import Foundation
import Logging
import Metrics
import NIOCore
import PostgresClient
import ServiceLifecycle
import Synchronization

/// The live tail of every session this instance streams, from one LISTEN
/// connection, fanned out in memory.
///
/// Each watched session has a feed: when a notification says its head moved,
/// the feed reads the new events once, renders them once, and hands the same
/// bytes to every subscriber. So 1,000 clients on one session cost one query
/// per commit, not 1,000, and no client holds a database connection. A slow
/// poll of the heads backs the notifications up (one may be lost while the
/// listener reconnects). A subscriber that lets more than `bufferLimit` bytes
/// pile up is closed with `.overflow` and resumes by Last-Event-ID.
public final class LiveEventHub: Service, Sendable {
    public enum Item: Sendable {
        /// Consecutive events, in order; may overlap what the subscriber already has.
        case frames([SSEFrame])
        case heartbeat
        /// The hub ends this subscription: the client reconnects (here or elsewhere).
        case closed(CloseReason)
    }

    public enum CloseReason: String, Sendable { case overflow, shutdown }

    public struct Settings: Sendable {
        public var heartbeat: Duration
        public var headPoll: Duration
        public var bufferLimit: Int
        public var pageSize: Int
        /// How long a woken feed waits for more commits before it reads: fewer,
        /// larger writes per client (CPU per delivery) for a few ms of latency.
        public var coalesce: Duration
        /// How long a write to a client that stopped reading may wait before the
        /// connection is closed (`OUTLINE_SSE_WRITE_TIMEOUT_SECONDS`).
        public var writeTimeout: TimeAmount
        public init(heartbeat: Duration = .seconds(15), headPoll: Duration = .seconds(1), bufferLimit: Int = 4 << 20, pageSize: Int = 1000,
                    coalesce: Duration = .milliseconds(10), writeTimeout: TimeAmount = .seconds(30)) {
            self.writeTimeout = writeTimeout
            self.heartbeat = heartbeat
            self.headPoll = headPoll
            self.bufferLimit = bufferLimit
            self.pageSize = pageSize
            self.coalesce = coalesce
        }
    }

    /// One client's view of a feed. Call `consumed` after writing what an item
    /// carried, and `cancel` when the client goes.
    public final class Subscription: Sendable {
        public let session: UUID
        public let items: AsyncStream<Item>
        let id: Int
        let pending = Atomic<Int>(0)
        /// After which sequence the feed delivers to this subscription.
        let feedStart = FeedStart()
        private let hub: LiveEventHub

        init(session: UUID, id: Int, items: AsyncStream<Item>, hub: LiveEventHub) {
            self.session = session
            self.id = id
            self.items = items
            self.hub = hub
        }

        public func consumed(bytes: Int) { pending.subtract(bytes, ordering: .relaxed) }
        public func cancel() { hub.unsubscribe(self) }
    }

    private struct Subscriber {
        var continuation: AsyncStream<Item>.Continuation
        var subscription: Subscription
    }

    private struct Feed {
        var subscribers: [Int: Subscriber] = [:]
        /// The last sequence read; nil until the feed has read the head.
        var cursor: Int32?
        var fetching = false
        var dirty = false
    }

    private struct State {
        var feeds: [UUID: Feed] = [:]
        var nextID = 0
        var clients = 0
        var closed = false
    }

    let store: EventStore
    let listenerSettings: ConnectionSettings
    let settings: Settings
    let logger: Logger
    private let state = Mutex(State())
    private let listener: Mutex<NotificationListener?> = Mutex(nil)
    private let clientsGauge = Gauge(label: "outline_sse_clients")
    private let dropped = Counter(label: "outline_sse_clients_dropped_total", dimensions: [("reason", "overflow")])
    private let fetches = Counter(label: "outline_feed_fetches_total")

    public init(store: EventStore, listenerSettings: ConnectionSettings, settings: Settings = Settings(), logger: Logger) {
        self.store = store
        self.listenerSettings = listenerSettings
        self.settings = settings
        self.logger = logger
    }

    // MARK: Subscribing

    /// Subscribes to a session's live events. Subscribe before reading the
    /// backlog: whatever commits after this call reaches the subscription.
    public func subscribe(_ session: UUID) -> Subscription {
        let (items, continuation) = AsyncStream<Item>.makeStream(bufferingPolicy: .unbounded)
        let (subscription, startFetch) = state.withLock { state -> (Subscription, Bool) in
            let id = state.nextID
            state.nextID += 1
            let subscription = Subscription(session: session, id: id, items: items, hub: self)
            if state.closed {
                continuation.yield(.closed(.shutdown))
                continuation.finish()
                subscription.feedStart.fulfill(0)
                return (subscription, false)
            }
            var feed = state.feeds[session] ?? Feed()
            if let cursor = feed.cursor { subscription.feedStart.fulfill(cursor) }
            feed.subscribers[id] = Subscriber(continuation: continuation, subscription: subscription)
            state.clients += 1
            let start = feed.cursor == nil && !feed.fetching
            if start { feed.fetching = true }
            state.feeds[session] = feed
            return (subscription, start)
        }
        clientsGauge.record(state.withLock { $0.clients })
        if startFetch { Task { await self.fetchLoop(session) } }
        return subscription
    }

    func unsubscribe(_ subscription: Subscription) {
        let continuation = state.withLock { state -> AsyncStream<Item>.Continuation? in
            guard var feed = state.feeds[subscription.session], let subscriber = feed.subscribers.removeValue(forKey: subscription.id) else { return nil }
            state.clients -= 1
            state.feeds[subscription.session] = feed.subscribers.isEmpty && !feed.fetching ? nil : feed
            return subscriber.continuation
        }
        continuation?.finish()
        clientsGauge.record(state.withLock { $0.clients })
    }

    public var clientCount: Int { state.withLock { $0.clients } }
    /// The instance is shutting down: long-running streams (replays) end too.
    public var isClosed: Bool { state.withLock { $0.closed } }
    public var feedCount: Int { state.withLock { $0.feeds.count } }

    // MARK: Reading and fanning out

    /// Wakes a session's feed: it reads whatever is new after its cursor.
    func wake(_ session: UUID, head: Int32? = nil) {
        let start = state.withLock { state -> Bool in
            guard var feed = state.feeds[session] else { return false }
            if let head, let cursor = feed.cursor, head <= cursor { return false }
            if feed.fetching {
                feed.dirty = true
                state.feeds[session] = feed
                return false
            }
            feed.fetching = true
            state.feeds[session] = feed
            return true
        }
        if start { Task { await self.fetchLoop(session) } }
    }

    private func fetchLoop(_ session: UUID) async {
        var paging = false
        while true {
            guard let cursor = state.withLock({ $0.feeds[session].map { $0.cursor } }) else { return }
            var more = false
            do {
                if let cursor {
                    if settings.coalesce > .zero, !paging { try? await Task.sleep(for: settings.coalesce) }
                    fetches.increment()
                    let events = try await store.readFeed(session: session, after: cursor, limit: settings.pageSize)
                    more = events.count == settings.pageSize
                    if !events.isEmpty { deliver(events.map(SSEFrame.init), to: session) }
                } else {
                    // A new feed starts at the head; its subscribers read what came before themselves.
                    let head = try await store.heads(of: [session])[session] ?? 0
                    let waiting = state.withLock { state -> [Subscription] in
                        guard var feed = state.feeds[session], feed.cursor == nil else { return [] }
                        feed.cursor = head
                        state.feeds[session] = feed
                        return feed.subscribers.values.map(\.subscription)
                    }
                    // Their backlogs must reach this head: the feed delivers only what follows.
                    for subscription in waiting { subscription.feedStart.fulfill(head) }
                    more = true
                }
            } catch {
                logger.warning("reading a session's new events failed; retrying", metadata: ["session": "\(session)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200))
                more = true
            }
            paging = more
            let again = state.withLock { state -> Bool in
                guard var feed = state.feeds[session] else { return false }
                if feed.subscribers.isEmpty {
                    state.feeds[session] = nil
                    return false
                }
                if more || feed.dirty {
                    feed.dirty = false
                    state.feeds[session] = feed
                    return !state.closed
                }
                feed.fetching = false
                state.feeds[session] = feed
                return false
            }
            if !again { return }
        }
    }

    private func deliver(_ frames: [SSEFrame], to session: UUID) {
        let bytes = frames.reduce(0) { $0 + $1.bytes.readableBytes }
        var overflowed = 0
        state.withLock { state in
            guard var feed = state.feeds[session] else { return }
            feed.cursor = max(feed.cursor ?? 0, frames.last!.sequence)
            for (id, subscriber) in feed.subscribers {
                let pending = subscriber.subscription.pending.add(bytes, ordering: .relaxed).newValue
                if pending > settings.bufferLimit {
                    subscriber.continuation.yield(.closed(.overflow))
                    subscriber.continuation.finish()
                    feed.subscribers[id] = nil
                    state.clients -= 1
                    overflowed += 1
                } else {
                    subscriber.continuation.yield(.frames(frames))
                }
            }
            state.feeds[session] = feed
        }
        if overflowed > 0 {
            dropped.increment(by: overflowed)
            clientsGauge.record(state.withLock { $0.clients })
            logger.info("dropped slow stream clients; they resume by Last-Event-ID", metadata: ["session": "\(session)", "clients": "\(overflowed)"])
        }
    }

    private func wakeAll() {
        for session in state.withLock({ Array($0.feeds.keys) }) { wake(session) }
    }

    /// Parses the log's notification payload, `session:head,session:head,...`.
    static func heads(inNotification payload: String) -> [(UUID, Int32)] {
        payload.split(separator: ",").compactMap { pair in
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let id = UUID(uuidString: String(parts[0])), let head = Int32(parts[1]) else { return nil }
            return (id, head)
        }
    }

    // MARK: Running

    /// Listens, heartbeats and polls heads until graceful shutdown (or
    /// cancellation), then ends every subscription with `.shutdown`.
    public func run() async throws {
        let listener = NotificationListener(settings: listenerSettings, channels: ["outline_events"], logger: logger)
        self.listener.withLock { $0 = listener }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in listener.events {
                        switch event {
                        case .notification(let notification):
                            for (session, head) in Self.heads(inNotification: notification.payload) { self.wake(session, head: head) }
                        case .listening(let isReconnect):
                            if isReconnect { self.wakeAll() }
                        }
                    }
                }
                group.addTask { await self.tick(every: self.settings.heartbeat) { self.heartbeat() } }
                group.addTask { await self.tick(every: self.settings.headPoll) { await self.pollHeads() } }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
        shutdown()
    }

    /// Ends every stream (clients reconnect, to another instance if this one is
    /// going) and stops listening. New subscriptions are closed at once.
    public func shutdown() {
        let continuations = state.withLock { state -> [AsyncStream<Item>.Continuation] in
            state.closed = true
            for feed in state.feeds.values { for subscriber in feed.subscribers.values { subscriber.subscription.feedStart.fulfill(0) } }
            let all = state.feeds.values.flatMap { $0.subscribers.values.map(\.continuation) }
            state.feeds.removeAll()
            state.clients = 0
            return all
        }
        for continuation in continuations {
            continuation.yield(.closed(.shutdown))
            continuation.finish()
        }
        clientsGauge.record(0)
        listener.withLock { $0?.stop() }
    }

    private func tick(every interval: Duration, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled, !state.withLock({ $0.closed }) {
            try? await Task.sleep(for: interval)
            await body()
        }
    }

    private func heartbeat() {
        state.withLock { state in
            for feed in state.feeds.values {
                for subscriber in feed.subscribers.values { subscriber.continuation.yield(.heartbeat) }
            }
        }
    }

    private func pollHeads() async {
        let watched = state.withLock { state in state.feeds.compactMap { $0.value.cursor == nil ? nil : ($0.key, $0.value.cursor!) } }
        guard !watched.isEmpty else { return }
        do {
            let heads = try await store.heads(of: watched.map(\.0))
            for (session, cursor) in watched where (heads[session] ?? 0) > cursor { wake(session) }
        } catch {
            logger.warning("polling session heads failed", metadata: ["error": "\(error)"])
        }
    }
}
