import Foundation
@testable import SessionRunner
import SimulatedProvider
import Testing

/// `SessionEventBuffer` without PostgreSQL or a clock: events queued, flushes
/// asked for, timers fired (stale ones too) and writes ending or failing in
/// orders real I/O rarely produces, with its rules checked after every step.
@Suite("Runner's event buffer: when a session's events are written")
struct SessionEventBufferTests {
    typealias Buffer = SessionEventBuffer<Int>

    struct Failed: Error {}

    @Test("events wait for the timer; the timer writes them all, expecting the head")
    func timer() {
        var buffer = Buffer(expectedSequence: 7, maxBatch: 10)
        guard case .armTimer(let generation) = buffer.queue([1, 2], immediately: false).action else { Issue.record("no timer"); return }
        #expect(buffer.queue([3], immediately: false).action.isNone)
        guard case .write(let events, let expected) = buffer.timerFired(generation: generation) else { Issue.record("no write"); return }
        #expect(events == [1, 2, 3] && expected == 7)
        #expect(buffer.written(lastSequence: 10).isNone)
        #expect(buffer.expectedSequence == 10 && buffer.committed == 3)
    }

    @Test("an event that must not wait goes at once, and the next batch waits for the write in flight")
    func immediate() {
        var buffer = Buffer(expectedSequence: 0, maxBatch: 10)
        let (target, action) = buffer.queue([1], immediately: true)
        guard case .write(let events, 0) = action else { Issue.record("no write"); return }
        #expect(events == [1] && target == 1 && !buffer.isAnswered(1))
        // While it is in flight, a second immediate event waits: one append at a time.
        let (second, none) = buffer.queue([2], immediately: true)
        #expect(none.isNone && second == 2)
        guard case .write(let next, 1) = buffer.written(lastSequence: 1) else { Issue.record("no second write"); return }
        #expect(next == [2] && buffer.isAnswered(1) && !buffer.isAnswered(2))
    }

    @Test("a stale timer does nothing; a full batch goes without one")
    func staleTimerAndFullBatch() {
        var buffer = Buffer(expectedSequence: 0, maxBatch: 3)
        guard case .armTimer(let old) = buffer.queue([1], immediately: false).action else { Issue.record("no timer"); return }
        guard case .write(let events, _) = buffer.queue([2, 3], immediately: false).action else { Issue.record("full batch not written"); return }
        #expect(events == [1, 2, 3])
        #expect(buffer.timerFired(generation: old).isNone)
        #expect(buffer.written(lastSequence: 3).isNone)
        guard case .armTimer(let fresh) = buffer.queue([4], immediately: false).action else { Issue.record("no new timer"); return }
        #expect(fresh != old)
    }

    @Test("write-through: an event goes at once, what comes during the write goes together after it, never a timer")
    func writeThrough() {
        var buffer = Buffer(expectedSequence: 4, maxBatch: 10, writeThrough: true)
        guard case .write(let first, 4) = buffer.queue([1], immediately: false).action else { Issue.record("not written at once"); return }
        #expect(first == [1])
        #expect(buffer.queue([2], immediately: false).action.isNone)
        #expect(buffer.queue([3, 4], immediately: false).action.isNone && !buffer.timerArmed)
        guard case .write(let next, 5) = buffer.written(lastSequence: 5) else { Issue.record("the queued events did not follow"); return }
        #expect(next == [2, 3, 4])
        #expect(buffer.written(lastSequence: 8).isNone && buffer.pending.isEmpty && !buffer.timerArmed)
    }

    @Test("after a failed write, everything waiting and everything later fails")
    func failure() {
        var buffer = Buffer(expectedSequence: 0, maxBatch: 10)
        _ = buffer.queue([1], immediately: true)
        _ = buffer.queue([2], immediately: false)
        buffer.writeFailed(Failed())
        #expect(buffer.isAnswered(1) && buffer.isAnswered(2) && buffer.failure != nil)
        #expect(buffer.flushRequested().action.isNone)
    }

    /// Random interleavings with one write in flight at most: every event is
    /// written once, in order, each append expecting what the previous left; a
    /// buffer with events always has a timer or a write on the way; every
    /// flush is answered once what it covered is committed.
    @Test("400 random interleavings keep every rule, half of them write-through", arguments: 0..<4)
    func randomInterleavings(block: Int) {
        for seed in (block * 100)..<(block * 100 + 100) {
            var random = SeededRandom(seed: UInt64(seed))
            let maxBatch = 1 + Int(random.next() % 8)
            let writeThrough = seed % 2 == 1
            var buffer = Buffer(expectedSequence: Int32(random.next() % 5), maxBatch: maxBatch, writeThrough: writeThrough)
            var log = Int(buffer.expectedSequence)
            var inFlight: (events: [Int], expected: Int32)?
            var armed: [Int] = [] // timer generations handed out, not yet fired
            var written: [Int] = []
            var next = 0
            var flushTargets: [Int] = []
            let fails = random.next() % 5 == 0
            var failed = false
            func run(_ action: Buffer.Action) -> Bool {
                switch action {
                case .none: break
                case .armTimer(let generation): armed.append(generation)
                case .write(let events, let expected):
                    guard inFlight == nil else { Issue.record("seed \(seed): two writes in flight"); return false }
                    guard Int(expected) == log else { Issue.record("seed \(seed): write expects \(expected), the log ends at \(log)"); return false }
                    inFlight = (events, expected)
                }
                return true
            }
            for _ in 0..<300 {
                switch random.next() % 5 {
                case 0, 1:
                    let count = 1 + Int(random.next() % 4)
                    let events = Array(next..<(next + count))
                    next += count
                    let (target, action) = buffer.queue(events, immediately: random.next() % 6 == 0)
                    if random.next() % 2 == 0 { flushTargets.append(target) }
                    guard run(action) else { return }
                case 2:
                    let (target, action) = buffer.flushRequested()
                    flushTargets.append(target)
                    guard run(action) else { return }
                case 3:
                    guard !armed.isEmpty else { continue }
                    let generation = armed.remove(at: Int(random.next() % UInt64(armed.count)))
                    guard run(buffer.timerFired(generation: generation)) else { return }
                default:
                    guard let write = inFlight else { continue }
                    inFlight = nil
                    if fails && random.next() % 10 == 0 {
                        buffer.writeFailed(Failed())
                        failed = true
                    } else {
                        written += write.events
                        log += write.events.count
                        guard run(buffer.written(lastSequence: Int32(log))) else { return }
                    }
                }
                if failed {
                    #expect(flushTargets.allSatisfy(buffer.isAnswered), "seed \(seed): a waiter is left after the failure")
                    break
                }
                // Nothing may wait forever: events buffered have a write in flight, or a timer, or a flush that will write them.
                if !buffer.pending.isEmpty && inFlight == nil && !buffer.timerArmed {
                    Issue.record("seed \(seed): \(buffer.pending.count) events buffered with no write and no timer"); return
                }
                if writeThrough && (buffer.timerArmed || (!buffer.pending.isEmpty && inFlight == nil)) {
                    Issue.record("seed \(seed): write-through armed a timer or left events without a write"); return
                }
                // A flush is answered only by commits: what the model's log holds covers it.
                for target in flushTargets where buffer.isAnswered(target) {
                    guard written.count >= target else { Issue.record("seed \(seed): a flush answered before its events committed"); return }
                }
                flushTargets.removeAll { buffer.isAnswered($0) }
            }
            guard !failed else { continue }
            // Drain: the timer and the writes finish everything.
            var guardSteps = 0
            while inFlight != nil || !buffer.pending.isEmpty {
                guardSteps += 1
                guard guardSteps < 10_000 else { Issue.record("seed \(seed): the buffer does not drain"); return }
                if let write = inFlight {
                    inFlight = nil
                    written += write.events
                    log += write.events.count
                    guard run(buffer.written(lastSequence: Int32(log))) else { return }
                } else if let generation = armed.popLast() {
                    guard run(buffer.timerFired(generation: generation)) else { return }
                } else {
                    Issue.record("seed \(seed): events left with nothing to write them"); return
                }
            }
            #expect(written == Array(0..<next), "seed \(seed): events written out of order, twice, or not at all")
            #expect(flushTargets.allSatisfy(buffer.isAnswered), "seed \(seed): a flush never answered")
        }
    }
}

extension SessionEventBuffer.Action {
    var isNone: Bool { if case .none = self { true } else { false } }
}
