@testable import OutlineServer
import Testing

/// The hub's feed decisions without PostgreSQL or sockets: the orders of
/// events that real I/O rarely produces (a commit handed over during a log
/// read, a notification before the hand-over, a lost or late hand-over).
@Suite("the live feed's state machine delivers every event once, in order, whatever the order of news")
struct FeedStateMachineTests {
    @Test("the first subscriber reads the head; later ones wait for it, then start at the cursor")
    func joining() {
        var feed = FeedStateMachine()
        #expect(feed.subscriberJoined() == .readHead)
        #expect(feed.subscriberJoined() == .waitForStart)
        #expect(feed.headRead(7) == .wait)
        #expect(feed.phase == .idle)
        #expect(feed.subscriberJoined() == .startAt(7))
        #expect(feed.subscribers == 3)
    }

    @Test("a commit right after the cursor is delivered without a query; the NOTIFY that follows it costs nothing")
    func shortPath() {
        var feed = Self.started(at: 4)
        #expect(feed.committed(5...9) == .deliver(.init(after: 4, through: 9)))
        #expect(feed.cursor == 9)
        #expect(feed.notified(head: 9) == .none)
        #expect(feed.notified(head: 8) == .none)
        #expect(feed.phase == .idle)
    }

    @Test("a commit after a gap sends the feed to the log; one already delivered is ignored; an overlapping one delivers its new part")
    func gapsAndOverlaps() {
        var feed = Self.started(at: 4)
        #expect(feed.committed(7...8) == .fetch(after: 4))
        #expect(feed.phase == .fetching(dirty: false))
        // The read returns 5...8: all of it is new.
        #expect(feed.fetched(5...8, fullPage: false) == (FeedStateMachine.Delivery(after: 4, through: 8), .wait))
        #expect(feed.committed(3...8) == .none)
        #expect(feed.committed(6...10) == .deliver(.init(after: 8, through: 10)))
    }

    @Test("a commit handed over while a read is in flight is delivered at once; the read then delivers only what is beyond it")
    func commitDuringFetch() {
        var feed = Self.started(at: 4)
        #expect(feed.notified(head: 6) == .fetch(after: 4))
        #expect(feed.committed(5...6) == .deliver(.init(after: 4, through: 6)))
        #expect(feed.committed(7...7) == .deliver(.init(after: 6, through: 7)))
        // The read saw 5...8 (8 committed by another instance): only 8 is new.
        let (delivery, next) = feed.fetched(5...8, fullPage: false)
        #expect(delivery == .init(after: 7, through: 8))
        #expect(next == .wait)
        #expect(feed.cursor == 8)
    }

    @Test("news during a read makes the feed read again; a full page too")
    func readAgain() {
        var feed = Self.started(at: 0)
        #expect(feed.notified(head: 3) == .fetch(after: 0))
        #expect(feed.notified(head: 5) == .none)
        #expect(feed.fetched(1...3, fullPage: false).then == .fetch(after: 3))
        #expect(feed.fetched(4...5, fullPage: true).then == .fetch(after: 5))
        #expect(feed.fetched(nil, fullPage: false).then == .wait)
        #expect(feed.phase == .idle)
    }

    @Test("news while the head is being read is not lost: the feed reads the log once the head is known")
    func newsWhileStarting() {
        var feed = FeedStateMachine()
        _ = feed.subscriberJoined()
        #expect(feed.committed(3...4) == .none)
        #expect(feed.headRead(2) == .fetch(after: 2))
        #expect(feed.fetched(3...4, fullPage: false) == (FeedStateMachine.Delivery(after: 2, through: 4), .wait))
    }

    @Test("the last subscriber leaving drops an idle feed at once, and a busy one when its read returns")
    func leaving() {
        var idle = Self.started(at: 1)
        #expect(idle.subscriberLeft() == .remove)

        var busy = Self.started(at: 1)
        #expect(busy.notified(head: nil) == .fetch(after: 1))
        #expect(busy.subscriberLeft() == .none)
        #expect(busy.fetched(2...3, fullPage: true).then == .remove)

        var starting = FeedStateMachine()
        _ = starting.subscriberJoined()
        #expect(starting.subscriberLeft() == .none)
        #expect(starting.headRead(5) == .remove)
    }

    @Test("a failed read is retried: the head while starting, the log after the cursor when fetching")
    func failures() {
        var starting = FeedStateMachine()
        _ = starting.subscriberJoined()
        #expect(starting.readFailed() == .readHead)
        var fetching = Self.started(at: 3)
        _ = fetching.notified(head: nil)
        #expect(fetching.readFailed() == .fetch(after: 3))
        _ = fetching.subscriberLeft()
        #expect(fetching.readFailed() == .remove)
    }

    /// Random interleavings against a model log: commits handed over in order,
    /// late, out of order or never; notifications late or lost; reads that see
    /// the log as it was when they began or when they returned. Whatever the
    /// order, what the feed delivers after its start is exactly start+1...head.
    @Test("random orders of commits, hand-overs, notifications and reads: no gap, no duplicate", arguments: 0..<400)
    func randomInterleavings(seed: Int) {
        var random = SplitMix(seed: UInt64(seed))
        var head: Int32 = random.int(0...3)
        var feed = FeedStateMachine()
        var delivered: [Int32] = []
        enum Read { case head(snapshot: Int32), log(after: Int32, snapshot: Int32) }
        var reads: [Read] = []
        var news: [(handover: ClosedRange<Int32>?, notify: Int32?)] = []

        func run(_ action: FeedStateMachine.ReadAction) {
            switch action {
            case .fetch(let after): reads.append(.log(after: after, snapshot: head))
            case .readHead: reads.append(.head(snapshot: head))
            case .wait, .remove: break
            }
        }
        func take(_ delivery: FeedStateMachine.Delivery?) {
            guard let delivery else { return }
            delivered += Array((delivery.after + 1)...delivery.through)
        }
        func handle(_ action: FeedStateMachine.NewsAction) {
            switch action {
            case .deliver(let delivery): take(delivery)
            case .fetch(let after): reads.append(.log(after: after, snapshot: head))
            case .none: break
            }
        }
        #expect(feed.subscriberJoined() == .readHead)
        reads.append(.head(snapshot: head))
        var start: Int32?
        for _ in 0..<60 {
            switch random.int(0...5) {
            case 0, 1:
                // A commit: its hand-over and its notification each come now, later, or never.
                let range = (head + 1)...(head + random.int(1...4))
                head = range.upperBound
                news.append((random.int(0...4) == 0 ? nil : range, random.int(0...3) == 0 ? nil : head))
            case 2 where !news.isEmpty:
                let index = random.int(0...3) == 0 ? random.int(0...(news.count - 1)) : 0
                let item = news.remove(at: index)
                if let range = item.handover { handle(feed.committed(range)) }
                if let notify = item.notify { handle(feed.notified(head: notify)) }
            case 3 where !reads.isEmpty:
                let read = reads.removeFirst()
                // A read sees the log as of some moment between its start and now.
                switch read {
                case .head(let snapshot):
                    let seen = random.bool() ? snapshot : head
                    if start == nil { start = seen }
                    run(feed.headRead(seen))
                case .log(let after, let snapshot):
                    let seen = random.bool() ? snapshot : head
                    let limit = after + 3 // small pages
                    let last = min(seen, limit)
                    let (delivery, next) = feed.fetched(last > after ? (after + 1)...last : nil, fullPage: last == limit)
                    take(delivery)
                    run(next)
                }
            case 4 where !reads.isEmpty && random.int(0...5) == 0:
                _ = reads.removeFirst()
                run(feed.readFailed())
            default:
                break
            }
        }
        // The head poll at the end, then every read to completion.
        handle(feed.notified(head: head))
        while !reads.isEmpty {
            switch reads.removeFirst() {
            case .head:
                if start == nil { start = head }
                run(feed.headRead(head))
            case .log(let after, _):
                let last = min(head, after + 3)
                let (delivery, next) = feed.fetched(last > after ? (after + 1)...last : nil, fullPage: last == after + 3)
                take(delivery)
                run(next)
            }
        }
        let from = start ?? head
        #expect(delivered == Array((from + 1)..<(head + 1)), "seed \(seed): delivered \(delivered), expected \(from + 1)...\(head)")
        #expect(feed.phase == .idle)
    }

    static func started(at head: Int32) -> FeedStateMachine {
        var feed = FeedStateMachine()
        _ = feed.subscriberJoined()
        _ = feed.headRead(head)
        return feed
    }
}

/// A small seeded generator: every interleaving can be replayed from its seed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ range: ClosedRange<Int32>) -> Int32 { range.lowerBound + Int32(next() % UInt64(range.upperBound - range.lowerBound + 1)) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1)) }
    mutating func bool() -> Bool { next() & 1 == 0 }
}
