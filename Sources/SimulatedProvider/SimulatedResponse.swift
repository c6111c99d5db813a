import Foundation

/// One response the simulated provider created: its transcript runs on a clock
/// from its creation, whether or not anyone streams it (background mode), so a
/// resumed stream or a retrieve sees exactly where the run has got to.
struct SimulatedResponse: Sendable {
    let id: String
    let transcript: Transcript
    let createdAt: ContinuousClock.Instant
    let pace: Duration
    let faults: [SimulatedFault]
    var cancelled = false
    var cancelledAt: Int?
    /// Set by the test to let a held run (`hold-at:K`) go on.
    private(set) var released = false
    /// When it was released: the run goes on at its pace from then, as a real run
    /// that had paused would, not in a burst that catches up with its first clock.
    private(set) var releasedAt: ContinuousClock.Instant?

    mutating func release(at now: ContinuousClock.Instant) {
        guard !released else { return }
        released = true
        releasedAt = now
    }

    private var holdIndex: Int? { faults.lazy.compactMap { if case .holdAt(let index) = $0 { index } else { nil } }.first }

    /// The event a held run waits before, while it is not released.
    var heldBefore: Int? { released ? nil : holdIndex }

    /// The index of the last event that has happened by `now` (-1: none yet).
    func lastEventIndex(at now: ContinuousClock.Instant) -> Int {
        if faults.contains(.stuckQueued) { return 0 }
        if let cancelledAt { return cancelledAt }
        let elapsed = now - createdAt
        var steps = pace == .zero ? Int.max : Int(elapsed / pace)
        if let held = heldBefore { steps = min(steps, held - 1) }
        if let held = holdIndex, let releasedAt, pace > .zero {
            steps = min(steps, now < releasedAt ? held - 1 : held + Int((now - releasedAt) / pace))
        }
        return min(transcript.events.count - 1, steps)
    }

    /// When event `index` happens.
    func time(of index: Int) -> ContinuousClock.Instant {
        let planned = createdAt + pace * index
        guard let held = holdIndex, index >= held, let releasedAt else { return planned }
        return max(planned, releasedAt + pace * (index - held))
    }

    var terminalStatus: String {
        if faults.contains(.fail) { return "failed" }
        if faults.contains(.incomplete) { return "incomplete" }
        return "completed"
    }

    /// The stream's events, the last one rewritten when a fault changes the ending.
    func event(_ index: Int) -> String {
        let last = transcript.events.count - 1
        guard index == last, terminalStatus != "completed" else { return transcript.events[index] }
        return Transcript.json(["type": "response.\(terminalStatus)", "sequence_number": index, "response": responseObject(status: terminalStatus)])
    }

    /// The response object as a retrieve shows it now.
    func retrieved(at now: ContinuousClock.Instant) -> [String: Any] {
        if cancelled { return responseObject(status: "cancelled") }
        if faults.contains(.stuckQueued) { return responseObject(status: "queued") }
        let last = lastEventIndex(at: now)
        if last >= transcript.events.count - 1 {
            if terminalStatus == "completed" {
                return (try? JSONSerialization.jsonObject(with: Data(transcript.completedResponse.utf8)) as? [String: Any]) ?? [:]
            }
            return responseObject(status: terminalStatus)
        }
        return responseObject(status: last < 1 ? "queued" : "in_progress")
    }

    func responseObject(status: String) -> [String: Any] {
        var envelope = transcript.envelope
        envelope.id = id
        return envelope.object(status: status,
                               error: status == "failed" ? ["code": "server_error", "message": "The simulated research run failed."] : NSNull(),
                               incomplete: status == "incomplete" ? ["reason": "max_output_tokens"] : NSNull())
    }
}
