import EventLog
import Foundation
import Logging
import Metrics
import NIOCore
import PostgresClient
import ServiceLifecycle
import Synchronization

/// The live tail of every session this instance streams, fanned out in memory.
///
/// Each watched session has a feed. This instance's own commits hand their
/// events to the feed directly (`EventStore.commits`): rendered once into one
/// buffer, posted to every subscriber, with no query and no wait. Commits of
/// other instances arrive by NOTIFY on one LISTEN connection, and the feed
/// reads them from the log once for all its subscribers; a slow poll of the
/// heads backs the notifications up. `FeedStateMachine` decides between the
/// paths, so a commit handed over out of order or lost only sends the feed to
/// the log: correctness never depends on the short path. A subscriber that
/// lets more than `bufferLimit` bytes pile up is closed with `.overflow` and
/// resumes by Last-Event-ID.
public final class LiveEventHub: Service, Sendable {
    public enum CloseReason: String, Sendable { case overflow, shutdown }

    public struct Settings: Sendable {
        public var heartbeat: Duration
        public var headPoll: Duration
        public var bufferLimit: Int
        public var pageSize: Int
        /// How long a write to a client that stopped reading may wait before the
        /// connection is closed (`OUTLINE_SSE_WRITE_TIMEOUT_SECONDS`).
        public var writeTimeout: TimeAmount
        public init(heartbeat: Duration = .seconds(15), headPoll: Duration = .seconds(1), bufferLimit: Int = 4 << 20, pageSize: Int = 1000,
                    writeTimeout: TimeAmount = .seconds(30)) {
            self.writeTimeout = writeTimeout
            self.heartbeat = heartbeat
            self.headPoll = headPoll
            self.bufferLimit = bufferLimit
            self.pageSize = pageSize
        }
    }

    /// One client's view of a feed. Call `consumed` after writing what a batch
    /// carried, and `cancel` when the client goes.
    public final class Subscription: Sendable {
        public let session: UUID
        let id: Int
        let mailbox = SubscriberMailbox()
        let pending = Atomic<Int>(0)
        /// After which sequence the feed delivers to this subscription.
        let feedStart = FeedStart()
        private let hub: LiveEventHub

        init(session: UUID, id: Int, hub: LiveEventHub) {
            self.session = session
            self.id = id
            self.hub = hub
        }

        public func consumed(bytes: Int) { pending.subtract(bytes, ordering: .relaxed) }
        public func cancel() { hub.unsubscribe(self) }
    }

    private struct Feed {
        var machine = FeedStateMachine()
        var subscribers: [Int: Subscription] = [:]
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
    private let handedOver = Counter(label: "outline_feed_commits_handed_over_total")
    /// NOTIFYs of this instance's commits that arrived before the hand-over and were not read for.
    private let ownNotifications = Counter(label: "outline_feed_own_notifications_skipped_total")
    /// NOTIFYs heard on the LISTEN connection (every instance hears every commit's:
    /// the primary's notification load is this rate times the instances).
    private let notifications = Counter(label: "outline_feed_notifications_total")
    /// Reads that served several feeds at once (a notification naming many sessions).
    private let batchedReads = Counter(label: "outline_feed_batched_reads_total")
    /// This instance's commit → the batch posted to every subscriber of its session.
    static let commitToFeed = Timer(label: "outline_live_stage_seconds", dimensions: [("stage", "commit_to_feed")])

    public init(store: EventStore, listenerSettings: ConnectionSettings, settings: Settings = Settings(), logger: Logger) {
        self.store = store
        self.listenerSettings = listenerSettings
        self.settings = settings
        self.logger = logger
        store.commits.add { [weak self] committed in self?.committed(committed) }
    }

    // MARK: Subscribing

    /// Subscribes to a session's live events. Subscribe before reading the
    /// backlog: whatever commits after this call reaches the subscription.
    public func subscribe(_ session: UUID) -> Subscription {
        let (subscription, action) = state.withLock { state -> (Subscription, FeedStateMachine.JoinAction?) in
            let id = state.nextID
            state.nextID += 1
            let subscription = Subscription(session: session, id: id, hub: self)
            if state.closed {
                subscription.mailbox.post(.closed(.shutdown), finishing: true)
                subscription.feedStart.fulfill(0)
                return (subscription, nil)
            }
            var feed = state.feeds[session] ?? Feed()
            let action = feed.machine.subscriberJoined()
            feed.subscribers[id] = subscription
            state.clients += 1
            state.feeds[session] = feed
            return (subscription, action)
        }
        clientsGauge.record(clientCount)
        switch action {
        case .readHead: Task { await self.readHead(session) }
        case .startAt(let cursor): subscription.feedStart.fulfill(cursor)
        case .waitForStart, nil: break
        }
        return subscription
    }

    func unsubscribe(_ subscription: Subscription) {
        state.withLock { state in
            guard var feed = state.feeds[subscription.session], feed.subscribers.removeValue(forKey: subscription.id) != nil else { return }
            state.clients -= 1
            state.feeds[subscription.session] = feed.machine.subscriberLeft() == .remove ? nil : feed
        }
        subscription.mailbox.finish()
        clientsGauge.record(clientCount)
    }

    public var clientCount: Int { state.withLock { $0.clients } }
    /// The instance is shutting down: long-running streams (replays) end too.
    public var isClosed: Bool { state.withLock { $0.closed } }
    public var feedCount: Int { state.withLock { $0.feeds.count } }

    // MARK: News

    /// This instance committed events: feeds at the commit's start take them as they are.
    private func committed(_ commits: [CommittedEvents]) {
        let watched = state.withLock { state in commits.filter { state.feeds[$0.sessionID] != nil } }
        for commit in watched where !commit.events.isEmpty {
            let batch = SSEBatch(commit.events)
            let (delivered, fetch) = state.withLock { state -> (Bool, Int32?) in
                guard var feed = state.feeds[commit.sessionID] else { return (false, nil) }
                let action = feed.machine.committed(batch.range)
                defer { state.feeds[commit.sessionID] = feed }
                switch action {
                case .deliver(let delivery):
                    deliver(batch, delivery, of: commit.sessionID, to: &feed, state: &state)
                    return (true, nil)
                case .fetch(let after):
                    return (false, after)
                case .none:
                    return (false, nil)
                }
            }
            if delivered {
                Self.commitToFeed.recordNanoseconds((ContinuousClock.now - commit.committedAt).saturatingNanoseconds)
                handedOver.increment()
            }
            if let fetch { Task { await self.fetch(commit.sessionID, after: fetch) } }
        }
    }

    /// A notification, a poll or a reconnect says the session's head moved (to at least `head`).
    func wake(_ session: UUID, head: Int32? = nil) {
        if let after = notified(session, head: head) { Task { await self.fetch(session, after: after) } }
    }

    /// The feed's state told the head moved; the cursor to read after, if it must read now.
    private func notified(_ session: UUID, head: Int32?) -> Int32? {
        state.withLock { state -> Int32? in
            guard var feed = state.feeds[session] else { return nil }
            let action = feed.machine.notified(head: head)
            state.feeds[session] = feed
            if case .fetch(let after) = action { return after }
            return nil
        }
    }

    // MARK: Reading the head and the log

    private func readHead(_ session: UUID) async {
        let next: FeedStateMachine.ReadAction
        do {
            let head = try await store.heads(of: [session])[session] ?? 0
            next = state.withLock { state -> FeedStateMachine.ReadAction in
                guard var feed = state.feeds[session] else { return .wait }
                let action = feed.machine.headRead(head)
                // The subscribers' backlogs must reach this head: the feed delivers only what follows.
                for subscription in feed.subscribers.values { subscription.feedStart.fulfill(head) }
                state.feeds[session] = action == .remove ? nil : feed
                return action
            }
        } catch {
            logger.warning("reading a session's head failed; retrying", metadata: ["session": "\(session)", "error": "\(error)"])
            try? await Task.sleep(for: .milliseconds(200))
            next = readFailed(session)
        }
        await perform(next, session)
    }

    private func fetch(_ session: UUID, after cursor: Int32) async {
        let next: FeedStateMachine.ReadAction
        do {
            fetches.increment()
            next = fetched(try await store.readFeed(session: session, after: cursor, limit: settings.pageSize), of: session)
        } catch {
            logger.warning("reading a session's new events failed; retrying", metadata: ["session": "\(session)", "error": "\(error)"])
            try? await Task.sleep(for: .milliseconds(200))
            next = readFailed(session)
        }
        await perform(next, session)
    }

    /// Reads many feeds' new events in one round trip (`EventStore.readFeeds`),
    /// then goes on with each feed as `fetch` does; the feeds that must read again
    /// (more commits arrived meanwhile, or a full page) read together again.
    private func fetch(_ cursors: [(session: UUID, after: Int32)]) async {
        var cursors = cursors
        while !cursors.isEmpty {
            guard cursors.count > 1 else {
                await fetch(cursors[0].session, after: cursors[0].after)
                return
            }
            var next: [(UUID, FeedStateMachine.ReadAction)] = []
            do {
                fetches.increment(by: cursors.count)
                batchedReads.increment()
                let pages = try await store.readFeeds(cursors, limit: settings.pageSize)
                next = cursors.map { ($0.session, fetched(pages[$0.session] ?? [], of: $0.session)) }
            } catch {
                logger.warning("reading sessions' new events failed; retrying", metadata: ["sessions": "\(cursors.count)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200))
                next = cursors.map { ($0.session, readFailed($0.session)) }
            }
            cursors = []
            for (session, action) in next {
                switch action {
                case .wait, .remove: continue
                case .fetch(let after): cursors.append((session, after))
                case .readHead: Task { await self.perform(action, session) }
                }
            }
        }
    }

    /// Delivers what a read found and returns what the feed does next.
    private func fetched(_ events: [FeedEvent], of session: UUID) -> FeedStateMachine.ReadAction {
        let batch = events.isEmpty ? nil : SSEBatch(events)
        return state.withLock { state -> FeedStateMachine.ReadAction in
            guard var feed = state.feeds[session] else { return .wait }
            let (delivery, action) = feed.machine.fetched(batch?.range, fullPage: events.count == settings.pageSize)
            if let delivery, let batch { deliver(batch, delivery, of: session, to: &feed, state: &state) }
            state.feeds[session] = action == .remove ? nil : feed
            return action
        }
    }

    private func readFailed(_ session: UUID) -> FeedStateMachine.ReadAction {
        state.withLock { state in
            guard var feed = state.feeds[session], !state.closed else { return .wait }
            let action = feed.machine.readFailed()
            state.feeds[session] = action == .remove ? nil : feed
            return action
        }
    }

    private func perform(_ action: FeedStateMachine.ReadAction, _ session: UUID) async {
        switch action {
        case .fetch(let after): await fetch(session, after: after)
        case .readHead: await readHead(session)
        case .wait, .remove: break
        }
    }

    /// Posts the delivered part of `batch` to every subscriber of `feed` (under the
    /// hub's lock, so every subscriber gets batches in the feed's order).
    private func deliver(_ batch: SSEBatch, _ delivery: FeedStateMachine.Delivery, of session: UUID, to feed: inout Feed, state: inout State) {
        guard let part = batch.suffix(after: delivery.after) else { return }
        let bytes = part.byteCount
        var overflowed = 0
        for (id, subscription) in feed.subscribers {
            let pending = subscription.pending.add(bytes, ordering: .relaxed).newValue
            if pending > settings.bufferLimit {
                subscription.mailbox.post(.closed(.overflow), finishing: true)
                feed.subscribers[id] = nil
                _ = feed.machine.subscriberLeft()
                state.clients -= 1
                overflowed += 1
            } else {
                subscription.mailbox.post(.batch(part))
            }
        }
        if overflowed > 0 {
            dropped.increment(by: overflowed)
            clientsGauge.record(state.clients)
            logger.info("dropped slow stream clients; they resume by Last-Event-ID", metadata: ["session": "\(session)", "clients": "\(overflowed)"])
        }
    }

    private func wakeAll() {
        let due = state.withLock({ Array($0.feeds.keys) }).compactMap { session in notified(session, head: nil).map { (session, $0) } }
        if !due.isEmpty { Task { await self.fetch(due) } }
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
                            self.notifications.increment()
                            var due: [(session: UUID, after: Int32)] = []
                            for (session, head) in Self.heads(inNotification: notification.payload) {
                                // This instance's own commit: its events are being handed over, no read needed.
                                if self.store.commits.isCommitting(session, head: head) { self.ownNotifications.increment(); continue }
                                if let after = self.notified(session, head: head) { due.append((session, after)) }
                            }
                            // Every session this commit moved that needs a read: one read for all of them.
                            if !due.isEmpty { Task { await self.fetch(due) } }
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
        let subscriptions = state.withLock { state -> [Subscription] in
            state.closed = true
            let all = state.feeds.values.flatMap { $0.subscribers.values }
            state.feeds.removeAll()
            state.clients = 0
            return all
        }
        for subscription in subscriptions {
            subscription.feedStart.fulfill(0)
            subscription.mailbox.post(.closed(.shutdown), finishing: true)
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
                for subscription in feed.subscribers.values { subscription.mailbox.post(.heartbeat) }
            }
        }
    }

    private func pollHeads() async {
        let watched = state.withLock { state in state.feeds.compactMap { $0.value.machine.cursor == nil ? nil : ($0.key, $0.value.machine.cursor!) } }
        guard !watched.isEmpty else { return }
        do {
            let heads = try await store.heads(of: watched.map(\.0))
            let due = watched.compactMap { session, cursor in (heads[session] ?? 0) > cursor ? notified(session, head: heads[session]).map { (session, $0) } : nil }
            if !due.isEmpty { Task { await self.fetch(due) } }
        } catch {
            logger.warning("polling session heads failed", metadata: ["error": "\(error)"])
        }
    }
}
