import Foundation
@testable import SessionRunner
import SimulatedProvider
import Testing

/// `ResearchRunStateMachine` without a provider or PostgreSQL: streams that
/// repeat events, end early, break in every way the provider can break them,
/// and cancels answered every way, in orders real I/O rarely produces, with
/// its rules checked after every step.
@Suite("Research run: when to create, resume, poll, fail or leave a session to an adopter")
struct ResearchRunStateMachineTests {
    typealias Machine = ResearchRunStateMachine

    @Test("a run creates once, records each provider event once, resumes after an early end, and ends with the terminal event")
    func happyPathWithOneResume() {
        var run = Machine(responseID: nil, lastProviderSequence: nil, maxResumesWithoutProgress: 3)
        #expect(run.start() == .openCreate)
        #expect(run.providerEvent(sequence: 0, accepted: "resp_1", ends: false) == .record(chargePoint: true, ends: false))
        #expect(run.responseID == "resp_1")
        #expect(run.providerEvent(sequence: 1, accepted: nil, ends: false) == .record(chargePoint: false, ends: false))
        #expect(run.providerEvent(sequence: 1, accepted: nil, ends: false) == .skip)
        #expect(run.streamEnded() == .resumeAfterBackoff(fromProviderSequence: 1))
        #expect(run.backoffElapsed() == .openResume(responseID: "resp_1", after: 1))
        #expect(run.providerEvent(sequence: 0, accepted: "resp_1", ends: false) == .skip)
        #expect(run.providerEvent(sequence: 2, accepted: nil, ends: true) == .record(chargePoint: false, ends: true))
        #expect(run.state == .ended)
        #expect(run.providerEvent(sequence: 3, accepted: nil, ends: false) == .none)
        #expect(run.streamEnded() == .none)
    }

    @Test("a run continued from the log resumes after its last stored provider event and never creates")
    func continued() {
        var run = Machine(responseID: "resp_9", lastProviderSequence: 41, maxResumesWithoutProgress: 3)
        #expect(run.start() == .openResume(responseID: "resp_9", after: 41))
        #expect(run.providerEvent(sequence: 41, accepted: nil, ends: false) == .skip)
        #expect(run.providerEvent(sequence: 42, accepted: nil, ends: false) == .record(chargePoint: false, ends: false))
        // The stored response without any event yet (a polling create): from the start.
        var fresh = Machine(responseID: "resp_8", lastProviderSequence: nil, maxResumesWithoutProgress: 3)
        #expect(fresh.start() == .openResume(responseID: "resp_8", after: -1))
    }

    @Test("before the provider names the response: a broken stream fails with the charge unknown, a refused create fails with nothing charged")
    func beforeTheChargePoint() {
        var broken = Machine(responseID: nil, lastProviderSequence: nil, maxResumesWithoutProgress: 3)
        _ = broken.start()
        guard case .fail(let code, _, true, false) = broken.streamFailed(.retryable) else { Issue.record("a broken create must fail, retryable, unsettled"); return }
        #expect(code == "provider_unreachable" && broken.state == .ended)
        var ended = Machine(responseID: nil, lastProviderSequence: nil, maxResumesWithoutProgress: 3)
        _ = ended.start()
        guard case .fail("provider_unreachable", _, _, false) = ended.streamEnded() else { Issue.record("an empty create stream must fail"); return }
        var refused = Machine(responseID: nil, lastProviderSequence: nil, maxResumesWithoutProgress: 3)
        _ = refused.start()
        #expect(refused.streamFailed(.fatal("401 invalid key")) == .fail(code: "provider_error", message: "401 invalid key", retryable: false, providerSettled: true))
        var invalid = Machine(responseID: nil, lastProviderSequence: nil, maxResumesWithoutProgress: 3)
        _ = invalid.start()
        #expect(invalid.streamFailed(.resumeRefused("400 bad model")) == .fail(code: "provider_error", message: "400 bad model", retryable: false, providerSettled: true))
    }

    @Test("a stream the provider will not resume, or one that keeps ending with nothing new, falls back to polling")
    func fallbackToPolling() {
        var refused = Machine(responseID: "r", lastProviderSequence: 5, maxResumesWithoutProgress: 3)
        _ = refused.start()
        #expect(refused.streamFailed(.resumeRefused("404")) == .poll(responseID: "r"))
        refused.pollingEnded()
        #expect(refused.state == .ended)

        var stuck = Machine(responseID: "r", lastProviderSequence: 5, maxResumesWithoutProgress: 3)
        _ = stuck.start()
        #expect(stuck.streamEnded() == .resumeAfterBackoff(fromProviderSequence: 5))
        _ = stuck.backoffElapsed()
        // Progress resets the count.
        _ = stuck.providerEvent(sequence: 6, accepted: nil, ends: false)
        #expect(stuck.streamFailed(.retryable) == .resumeAfterBackoff(fromProviderSequence: 6))
        #expect(stuck.resumesWithoutProgress == 0)
        _ = stuck.backoffElapsed()
        #expect(stuck.streamEnded() == .resumeAfterBackoff(fromProviderSequence: 6))
        _ = stuck.backoffElapsed()
        #expect(stuck.streamFailed(.retryable) == .resumeAfterBackoff(fromProviderSequence: 6))
        _ = stuck.backoffElapsed()
        #expect(stuck.streamEnded() == .poll(responseID: "r"))
    }

    @Test("a fatal error with a live response: cancel first; fail only once the cancel was answered, else leave it to an adopter")
    func fatalWithAResponse() {
        func running() -> Machine {
            var run = Machine(responseID: nil, lastProviderSequence: nil, maxResumesWithoutProgress: 3)
            _ = run.start()
            _ = run.providerEvent(sequence: 0, accepted: "r", ends: false)
            #expect(run.streamFailed(.fatal("403")) == .cancelUpstream(responseID: "r"))
            // Nothing else happens while the cancel is in flight.
            #expect(run.streamEnded() == .none && run.backoffElapsed() == .none)
            return run
        }
        var settled = running()
        #expect(settled.upstreamCancelled(.settled) == .fail(code: "provider_error", message: "403", retryable: false, providerSettled: true))
        var refused = running()
        #expect(refused.upstreamCancelled(.refused("no")) == .fail(code: "provider_error", message: "403", retryable: false, providerSettled: false))
        var unreachable = running()
        #expect(unreachable.upstreamCancelled(.unreachable("timeout")) == .leaveToAdopter("timeout"))
        #expect(unreachable.state == .ended)
    }

    /// A provider for the random runs: a transcript of `count` events (0 names the
    /// response, the last ends it), whose streams replay from anywhere at or
    /// before the cursor, stop early, or break in any of the ways there are.
    @Test("2,000 random runs against a provider that repeats, drops and breaks streams: one create, each event once in order, no unsafe end, always a next step")
    func randomRuns() {
        for seed in 0..<2000 {
            var random = SeededRandom(seed: UInt64(seed) &* 7919 &+ 17)
            let count = 2 + Int(random.next() % 40)
            let maxResumes = 1 + Int(random.next() % 4)
            let continued = random.next() % 4 == 0
            let storedUpTo: Int32? = continued ? Int32(random.next() % UInt64(count - 1)) : nil
            var run = Machine(responseID: continued ? "resp" : nil, lastProviderSequence: storedUpTo, maxResumesWithoutProgress: maxResumes)
            var recorded: [Int] = storedUpTo.map { Array(0...Int($0)) } ?? []
            var creates = 0
            var responseKnown = continued
            var cancelAnswered: SessionRunner.UpstreamCancel?
            var action = run.start()
            var steps = 0
            var outcome = "none"
            loop: while true {
                steps += 1
                guard steps < 10_000 else { Issue.record("seed \(seed): no end after 10,000 steps"); break }
                switch action {
                case .openCreate, .openResume:
                    if case .openCreate = action {
                        creates += 1
                        if creates > 1 || responseKnown { Issue.record("seed \(seed): a second create, or a create with a known response") }
                    }
                    var after = -1
                    if case .openResume(let id, let from) = action {
                        #expect(id == "resp", "seed \(seed)")
                        after = from
                        #expect(from == (recorded.last ?? -1), "seed \(seed): resumed after \(from), stored up to \(recorded.last ?? -1)")
                    }
                    // The provider may replay a little before the cursor, and stops anywhere.
                    var sequence = max(0, after + 1 - Int(random.next() % 3))
                    let stopAt = random.next() % 3 == 0 ? count : sequence + Int(random.next() % 6)
                    var next: Machine.Action = .none
                    while sequence < min(count, stopAt) {
                        let decision = run.providerEvent(sequence: sequence, accepted: sequence == 0 ? "resp" : nil, ends: sequence == count - 1)
                        switch decision {
                        case .record(let chargePoint, let ends):
                            if let last = recorded.last, sequence <= last { Issue.record("seed \(seed): event \(sequence) recorded again") }
                            recorded.append(sequence)
                            if chargePoint { #expect(sequence == 0 && !responseKnown, "seed \(seed)"); responseKnown = true }
                            if ends { outcome = "completed"; break loop }
                        case .skip:
                            #expect(sequence <= recorded.last ?? -1, "seed \(seed): skipped \(sequence), a new event")
                        default:
                            Issue.record("seed \(seed): \(decision) for a provider event on an open stream")
                        }
                        sequence += 1
                    }
                    switch random.next() % 4 {
                    case 0: next = run.streamEnded()
                    case 1: next = run.streamFailed(.retryable)
                    case 2: next = run.streamFailed(random.next() % 2 == 0 ? .resumeRefused("400") : .fatal("403"))
                    default: next = run.streamFailed(.retryable)
                    }
                    action = next
                case .resumeAfterBackoff(let from):
                    #expect(from == recorded.last.map { Int32($0) }, "seed \(seed)")
                    action = run.backoffElapsed()
                case .cancelUpstream:
                    let answer: SessionRunner.UpstreamCancel = [.settled, .refused("no"), .unreachable("down")][Int(random.next() % 3)]
                    cancelAnswered = answer
                    action = run.upstreamCancelled(answer)
                case .poll:
                    #expect(responseKnown, "seed \(seed): polling without a response")
                    run.pollingEnded()
                    outcome = "polled"
                    break loop
                case .fail(_, _, _, let providerSettled):
                    // Failing with a response that may still run: only after its cancel was answered.
                    if responseKnown {
                        #expect(cancelAnswered == .settled || cancelAnswered == .refused("no"), "seed \(seed): failed with a live response and no cancel answer")
                        #expect(providerSettled == (cancelAnswered == .settled), "seed \(seed)")
                    }
                    outcome = "failed"
                    break loop
                case .leaveToAdopter:
                    #expect(cancelAnswered == .unreachable("down"), "seed \(seed)")
                    outcome = "left"
                    break loop
                case .none, .skip, .record:
                    Issue.record("seed \(seed): no next step (\(action)) in \(run.state)")
                    break loop
                }
            }
            #expect(run.state == .ended, "seed \(seed): \(outcome) but the run is in \(run.state)")
            #expect(recorded == Array(0..<recorded.count), "seed \(seed): recorded \(recorded)")
        }
    }
}
