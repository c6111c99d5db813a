@testable import EventLog
import Foundation
import SimulatedProvider
import Testing

/// `GroupCommitQueue` without PostgreSQL: appends, batches and transaction ends
/// in orders real I/O rarely produces, with its rules checked after every step.
@Suite("Group-commit queue: which appends share a transaction")
struct GroupCommitQueueTests {
    typealias Queue = GroupCommitQueue<Int>

    static let sessions = (0..<6).map { _ in UUID() }

    @Test("appends of many sessions share one batch; a second flusher starts only up to the limit")
    func sharing() {
        var queue = Queue(maxEvents: 100, maxFlushers: 2)
        #expect(queue.appended(.init(sessionID: Self.sessions[0], eventCount: 3, payload: 0)).isStart)
        #expect(queue.appended(.init(sessionID: Self.sessions[1], eventCount: 3, payload: 1)).isStart)
        #expect(!queue.appended(.init(sessionID: Self.sessions[2], eventCount: 3, payload: 2)).isStart)
        guard case .commit(let batch) = queue.nextBatch() else { Issue.record("no batch"); return }
        #expect(batch.map(\.payload) == [0, 1, 2])
        // The second flusher finds nothing: it stops, and the count lets a later append start one.
        #expect(queue.nextBatch().isStop)
        #expect(queue.flushers == 1)
    }

    @Test("a session's later append waits for its earlier one's transaction, and nothing of it overtakes")
    func sessionOrder() {
        var queue = Queue(maxEvents: 10, maxFlushers: 2)
        let a = Self.sessions[0], b = Self.sessions[1]
        _ = queue.appended(.init(sessionID: a, eventCount: 8, payload: 0))
        guard case .commit(let first) = queue.nextBatch() else { Issue.record("no batch"); return }
        #expect(first.map(\.payload) == [0])
        _ = queue.appended(.init(sessionID: a, eventCount: 1, payload: 1))
        _ = queue.appended(.init(sessionID: b, eventCount: 1, payload: 2))
        // a is in flight: only b goes now.
        guard case .commit(let second) = queue.nextBatch() else { Issue.record("no batch"); return }
        #expect(second.map(\.payload) == [2])
        queue.finished(first)
        queue.finished(second)
        guard case .commit(let third) = queue.nextBatch() else { Issue.record("no batch"); return }
        #expect(third.map(\.payload) == [1])
    }

    @Test("an append too big for the batch's room blocks its session's later ones, not other sessions")
    func room() {
        var queue = Queue(maxEvents: 10, maxFlushers: 1)
        let a = Self.sessions[0], b = Self.sessions[1]
        _ = queue.appended(.init(sessionID: b, eventCount: 6, payload: 0))
        _ = queue.appended(.init(sessionID: a, eventCount: 6, payload: 1)) // does not fit beside b's
        _ = queue.appended(.init(sessionID: a, eventCount: 1, payload: 2)) // would fit, but must not overtake
        _ = queue.appended(.init(sessionID: Self.sessions[2], eventCount: 4, payload: 3))
        guard case .commit(let batch) = queue.nextBatch() else { Issue.record("no batch"); return }
        #expect(batch.map(\.payload) == [0, 3])
        queue.finished(batch)
        guard case .commit(let next) = queue.nextBatch() else { Issue.record("no batch"); return }
        #expect(next.map(\.payload) == [1, 2])
    }

    @Test("one append larger than a whole batch still goes, alone")
    func oversized() {
        var queue = Queue(maxEvents: 10, maxFlushers: 1)
        _ = queue.appended(.init(sessionID: Self.sessions[0], eventCount: 50, payload: 0))
        _ = queue.appended(.init(sessionID: Self.sessions[1], eventCount: 1, payload: 1))
        guard case .commit(let batch) = queue.nextBatch() else { Issue.record("no batch"); return }
        #expect(batch.map(\.payload) == [0])
    }

    /// Random interleavings: appends arrive, flushers ask for batches and end
    /// transactions in any order; the rules hold after every step and every
    /// append commits exactly once, in its session's order.
    @Test("400 random interleavings keep every rule", arguments: 0..<4)
    func randomInterleavings(block: Int) {
        for seed in (block * 100)..<(block * 100 + 100) {
            var random = SeededRandom(seed: UInt64(seed))
            let maxFlushers = 1 + Int(random.next() % 3)
            let maxEvents = 5 + Int(random.next() % 20)
            var queue = Queue(maxEvents: maxEvents, maxFlushers: maxFlushers)
            // Each running flusher: nil when about to ask for a batch, else the batch it commits.
            var flushers: [[Queue.Item]?] = []
            var nextPayload = 0
            var madeBySession: [UUID: [Int]] = [:]
            var committedBySession: [UUID: [Int]] = [:]
            var appendsLeft = 30 + Int(random.next() % 40)
            var steps = 0
            func check(_ note: String) -> Bool {
                // (One batch may hold several appends of a session, in order; two batches may not share one.)
                let inFlight = flushers.compactMap { $0 }.flatMap { Set($0.map(\.sessionID)) }
                guard flushers.count <= maxFlushers, flushers.count == queue.flushers else {
                    Issue.record("seed \(seed): \(flushers.count) flushers (queue says \(queue.flushers)), limit \(maxFlushers) after \(note)"); return false
                }
                guard Set(inFlight).count == inFlight.count else { Issue.record("seed \(seed): a session in two transactions after \(note)"); return false }
                guard queue.pending.isEmpty || !flushers.isEmpty else { Issue.record("seed \(seed): appends wait with no flusher after \(note)"); return false }
                return true
            }
            while appendsLeft > 0 || !flushers.isEmpty {
                steps += 1
                guard steps < 100_000 else { Issue.record("seed \(seed): no progress"); return }
                let choice = random.next() % 3
                if choice == 0 && appendsLeft > 0 {
                    appendsLeft -= 1
                    let session = Self.sessions[Int(random.next() % UInt64(Self.sessions.count))]
                    let count = 1 + Int(random.next() % UInt64(maxEvents + 4))
                    madeBySession[session, default: []].append(nextPayload)
                    if queue.appended(.init(sessionID: session, eventCount: count, payload: nextPayload)).isStart { flushers.append(nil) }
                    nextPayload += 1
                    guard check("append") else { return }
                } else if !flushers.isEmpty {
                    let index = Int(random.next() % UInt64(flushers.count))
                    if let batch = flushers[index] {
                        // The transaction ends; the flusher will ask again.
                        let events = batch.reduce(0) { $0 + $1.eventCount }
                        guard batch.count == 1 || events <= maxEvents else { Issue.record("seed \(seed): batch of \(events) events over \(maxEvents)"); return }
                        for item in batch { committedBySession[item.sessionID, default: []].append(item.payload) }
                        queue.finished(batch)
                        flushers[index] = nil
                    } else {
                        switch queue.nextBatch() {
                        case .commit(let batch): flushers[index] = batch
                        case .stop: flushers.remove(at: index)
                        }
                    }
                    guard check("flusher step") else { return }
                }
            }
            #expect(queue.pending.isEmpty, "seed \(seed): appends left behind")
            #expect(committedBySession == madeBySession, "seed \(seed): commits differ from appends, or came out of a session's order")
        }
    }
}

extension GroupCommitQueue.AppendAction {
    var isStart: Bool { if case .startFlusher = self { true } else { false } }
}

extension GroupCommitQueue.BatchAction {
    var isStop: Bool { if case .stop = self { true } else { false } }
}
