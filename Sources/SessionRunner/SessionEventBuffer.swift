/// The decisions of `SessionEventWriter`, without its I/O: when a session's
/// buffered events are written, and what the sequence they expect is.
///
/// In the postgres-nio style each event returns what to do (write a batch, arm
/// the flush timer, nothing) and the writer does it. Its rules, which
/// `SessionEventBufferTests` check over random orders of events:
/// - at most one append of the session is in flight, and each expects the
///   sequence the previous one left (so a conflict can only mean another
///   runner took over);
/// - events are written in the order they were queued, each exactly once;
/// - a flush (or an event that must not wait) is answered once everything
///   queued before it is committed; a buffer with events and no flush pending
///   always has the timer armed or a write in flight, so nothing waits forever
///   (write-through: always a write in flight, never a timer);
/// - after a failed write every later request fails with that error.
struct SessionEventBuffer<Event> {
    enum Action {
        case none
        /// Write these events, expecting the session's log to end at `expectedSequence`.
        case write([Event], expectedSequence: Int32)
        /// Call `timerFired(generation)` after the buffer's delay.
        case armTimer(generation: Int)
    }

    let maxBatch: Int
    /// Write whatever is queued as soon as no append is in flight, never on a
    /// timer: batches are what piled up during the previous commit (the live
    /// path's default; a timer only added its delay to every event).
    let writeThrough: Bool
    private(set) var pending: [Event] = []
    private(set) var expectedSequence: Int32
    /// Events in the append in flight, if one is.
    private(set) var writing: Int?
    /// Events ever queued, and ever committed: a flush waits for `committed` to reach
    /// the `queued` it saw.
    private(set) var queued = 0
    private(set) var committed = 0
    /// Write eagerly (no timer) until `committed` reaches this.
    private(set) var flushTarget = 0
    private(set) var failure: (any Error)?
    private var timer: Int?
    private var generation = 0

    init(expectedSequence: Int32, maxBatch: Int, writeThrough: Bool = false) {
        precondition(maxBatch > 0)
        self.expectedSequence = expectedSequence
        self.maxBatch = maxBatch
        self.writeThrough = writeThrough
    }

    var timerArmed: Bool { timer != nil }

    /// Events the runner produced; `immediately` asks for them (and all before) to
    /// be written now. Returns the `queued` count a caller that waits must wait for.
    mutating func queue(_ events: [Event], immediately: Bool) -> (target: Int, action: Action) {
        pending += events
        queued += events.count
        if immediately { flushTarget = queued }
        return (queued, decide())
    }

    /// Someone waits for everything queued so far.
    mutating func flushRequested() -> (target: Int, action: Action) {
        flushTarget = max(flushTarget, queued)
        return (queued, decide())
    }

    mutating func timerFired(generation fired: Int) -> Action {
        guard timer == fired else { return .none } // an older timer: a write already took its events
        timer = nil
        flushTarget = max(flushTarget, queued)
        return decide()
    }

    /// The append in flight committed; the log now ends at `lastSequence`.
    mutating func written(lastSequence: Int32) -> Action {
        guard let count = writing else { return .none }
        writing = nil
        committed += count
        expectedSequence = max(expectedSequence, lastSequence)
        return decide()
    }

    /// The append in flight failed: the session is not this runner's to write any more.
    mutating func writeFailed(_ error: any Error) {
        writing = nil
        failure = error
        pending.removeAll()
        timer = nil
    }

    /// Whether a waiter for `target` may go (or must fail).
    func isAnswered(_ target: Int) -> Bool { failure != nil || committed >= target }

    private mutating func decide() -> Action {
        guard failure == nil, writing == nil, !pending.isEmpty else { return .none }
        if writeThrough || flushTarget > committed || pending.count >= maxBatch {
            let batch = pending
            pending.removeAll()
            writing = batch.count
            timer = nil
            return .write(batch, expectedSequence: expectedSequence)
        }
        guard timer == nil else { return .none }
        generation += 1
        timer = generation
        return .armTimer(generation: generation)
    }
}
