/// The decisions of one session's live feed in the hub, apart from its I/O.
///
/// A feed learns of new events three ways: this instance's own commits hand it
/// their events directly (the short path), a NOTIFY says the head moved (other
/// instances' commits, or the fallback), and it reads the log. This machine
/// decides, for every such event in whatever order they come, what the hub
/// does: deliver a range, read the log after the cursor, read the head, or
/// nothing; so "no gap, no duplicate" rests on one small, exhaustively tested
/// type and never on the short path being taken (in the postgres-nio style:
/// `mutating func event(…) -> Action`, the hub's I/O does what the action says).
///
/// The cursor is the last sequence delivered to subscribers. Anything delivered
/// starts at `cursor + 1`; a commit that does not (a gap) sends the feed to the log.
struct FeedStateMachine: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        /// No subscriber has joined yet.
        case new
        /// Reading the session's head; the cursor is not known yet. `dirty`: something
        /// committed meanwhile, so read the log once the head is known.
        case starting(dirty: Bool)
        /// At the cursor, waiting for news.
        case idle
        /// Reading the log after the cursor; `dirty`: news came during the read.
        case fetching(dirty: Bool)
        /// The hub shut down, or the last subscriber left while nothing was in flight.
        case closed
    }

    private(set) var phase: Phase
    private(set) var cursor: Int32?
    private(set) var subscribers = 0

    init() {
        phase = .new
    }

    // MARK: Subscribers

    enum JoinAction: Sendable, Equatable {
        /// The first subscriber: read the head (the feed delivers only what follows it).
        case readHead
        /// Wait for the head read in flight; its start comes with `headRead`.
        case waitForStart
        /// The feed delivers what follows `cursor` to this subscriber.
        case startAt(Int32)
    }

    /// A subscriber joins. The feed is new (`init`) or already running.
    mutating func subscriberJoined() -> JoinAction {
        subscribers += 1
        switch phase {
        case .new, .closed:
            // The first subscriber, or one after the feed closed: start (over).
            phase = .starting(dirty: false)
            cursor = nil
            return .readHead
        case .starting:
            return .waitForStart
        case .idle, .fetching:
            return .startAt(cursor!)
        }
    }

    enum LeaveAction: Sendable, Equatable {
        case none
        /// Nobody listens and nothing is in flight: drop the feed.
        case remove
    }

    mutating func subscriberLeft() -> LeaveAction {
        subscribers = max(0, subscribers - 1)
        guard subscribers == 0 else { return .none }
        switch phase {
        case .idle:
            phase = .closed
            return .remove
        case .new:
            phase = .closed
            return .remove
        case .starting, .fetching, .closed:
            // A read in flight decides when it returns (`headRead`, `fetched`).
            return .none
        }
    }

    // MARK: Reading the head and the log

    enum ReadAction: Sendable, Equatable {
        /// Nothing more to read: the feed waits at its cursor.
        case wait
        /// Read the log after the cursor (again).
        case fetch(after: Int32)
        /// Read the head again (the first read failed).
        case readHead
        /// Nobody listens any more: drop the feed.
        case remove
    }

    /// The head read returned: the waiting subscribers start there (the hub
    /// fulfils their starts with `head`).
    mutating func headRead(_ head: Int32) -> ReadAction {
        guard case .starting(let dirty) = phase else { return .wait }
        cursor = head
        if subscribers == 0 {
            phase = .closed
            return .remove
        }
        if dirty {
            phase = .fetching(dirty: false)
            return .fetch(after: head)
        }
        phase = .idle
        return .wait
    }

    /// What of a read range the hub delivers: the events after `after`.
    struct Delivery: Sendable, Equatable {
        var after: Int32
        var through: Int32
    }

    /// A log read after the cursor returned events `first...last` (nil: none);
    /// `fullPage`: there may be more.
    mutating func fetched(_ range: ClosedRange<Int32>?, fullPage: Bool) -> (deliver: Delivery?, then: ReadAction) {
        guard case .fetching(let dirty) = phase, let current = cursor else { return (nil, .wait) }
        var delivery: Delivery?
        // The read began at an older cursor; the short path may have delivered part of it since.
        if let range, range.upperBound > current, range.lowerBound <= current + 1 {
            delivery = Delivery(after: current, through: range.upperBound)
            cursor = range.upperBound
        }
        if subscribers == 0 {
            phase = .closed
            return (delivery, .remove)
        }
        if fullPage || dirty {
            phase = .fetching(dirty: false)
            return (delivery, .fetch(after: cursor!))
        }
        phase = .idle
        return (delivery, .wait)
    }

    /// A read failed: the hub waits a little and reads again (the head, or the log after the cursor).
    mutating func readFailed() -> ReadAction {
        switch phase {
        case .starting:
            return subscribers == 0 ? close() : .readHead
        case .fetching:
            return subscribers == 0 ? close() : .fetch(after: cursor!)
        case .new, .idle, .closed:
            return .wait
        }
    }

    private mutating func close() -> ReadAction {
        phase = .closed
        return .remove
    }

    // MARK: News

    enum NewsAction: Sendable, Equatable {
        case none
        /// Deliver the part of the committed range after `after` (no query).
        case deliver(Delivery)
        /// Read the log after the cursor.
        case fetch(after: Int32)
    }

    /// This instance committed `first...last` of the session and hands over the events.
    mutating func committed(_ range: ClosedRange<Int32>) -> NewsAction {
        guard let current = cursorForNews() else { return .none }
        if range.upperBound <= current { return .none }
        if range.lowerBound <= current + 1 {
            cursor = range.upperBound
            return .deliver(Delivery(after: current, through: range.upperBound))
        }
        // A gap before these events (a commit elsewhere, or one handed over late): the log fills it.
        return readLog()
    }

    /// A notification (or the head poll) says the head is at least `head`; nil: it moved, by how much unknown.
    mutating func notified(head: Int32?) -> NewsAction {
        guard let current = cursorForNews() else { return .none }
        if let head, head <= current { return .none }
        return readLog()
    }

    /// The cursor news is weighed against; nil when there is none to weigh (news
    /// while the head is being read marks the feed to read the log afterwards).
    private mutating func cursorForNews() -> Int32? {
        switch phase {
        case .starting:
            phase = .starting(dirty: true)
            return nil
        case .new, .closed:
            return nil
        case .idle, .fetching:
            return cursor!
        }
    }

    private mutating func readLog() -> NewsAction {
        if case .idle = phase {
            phase = .fetching(dirty: false)
            return .fetch(after: cursor!)
        }
        phase = .fetching(dirty: true)
        return .none
    }

    /// The hub is shutting down.
    mutating func shutdown() {
        phase = .closed
        subscribers = 0
    }
}
