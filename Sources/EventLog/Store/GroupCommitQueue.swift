import Foundation

/// The decisions of `GroupCommitWriter`, without its I/O: which appends go in
/// the next transaction, and how many transactions run at once.
///
/// In the postgres-nio style, each event returns what to do and the writer does
/// it: start a flusher, commit a batch, stop. Its rules, which
/// `GroupCommitQueueTests` check over random orders of events:
/// - at most `maxFlushers` transactions run at once;
/// - a session is in at most one transaction at a time, and its appends commit
///   in the order they were made (a later one never overtakes an earlier one,
///   even when the earlier one waits for room);
/// - a batch holds at most `maxEvents` events, unless it is one append that is
///   larger on its own;
/// - every queued append is eventually taken while a flusher runs.
struct GroupCommitQueue<Payload> {
    struct Item {
        var sessionID: UUID
        var eventCount: Int
        var payload: Payload
    }

    enum AppendAction {
        /// Start a flusher: it asks `nextBatch` until told to stop.
        case startFlusher
        /// A running flusher will take it.
        case none
    }

    enum BatchAction {
        case commit([Item])
        /// Nothing can be taken now: the flusher ends (a later append starts one).
        case stop
    }

    let maxEvents: Int
    let maxFlushers: Int
    private(set) var pending: [Item] = []
    private(set) var flushers = 0
    /// Sessions in a transaction now.
    private(set) var inFlight = Set<UUID>()

    init(maxEvents: Int, maxFlushers: Int) {
        precondition(maxEvents > 0 && maxFlushers > 0)
        self.maxEvents = maxEvents
        self.maxFlushers = maxFlushers
    }

    mutating func appended(_ item: Item) -> AppendAction {
        pending.append(item)
        guard flushers < maxFlushers else { return .none }
        flushers += 1
        return .startFlusher
    }

    /// A flusher asks for its next batch (first, or after committing one).
    mutating func nextBatch() -> BatchAction {
        var batch: [Item] = []
        var rest: [Item] = []
        var events = 0
        var blocked = inFlight
        var taken = Set<UUID>()
        for item in pending {
            let fits = events == 0 || events + item.eventCount <= maxEvents
            if fits && !blocked.contains(item.sessionID) {
                batch.append(item)
                taken.insert(item.sessionID)
                events += item.eventCount
            } else {
                // Keep the session's order: nothing of it may overtake this one.
                blocked.insert(item.sessionID)
                rest.append(item)
            }
        }
        pending = rest
        inFlight.formUnion(taken)
        guard !batch.isEmpty else {
            flushers -= 1
            return .stop
        }
        return .commit(batch)
    }

    /// A batch's transaction ended (committed, or failed and answered): its
    /// sessions may go in the next one.
    mutating func finished(_ batch: [Item]) {
        for item in batch { inFlight.remove(item.sessionID) }
    }
}

extension GroupCommitQueue: Sendable where Payload: Sendable {}
extension GroupCommitQueue.Item: Sendable where Payload: Sendable {}
extension GroupCommitQueue.BatchAction: Sendable where Payload: Sendable {}
