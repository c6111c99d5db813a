import OpenAIResponses

/// The decisions of one streaming research run at the provider, without its
/// I/O: when to create, resume, poll, fail or give the session up to an
/// adopter. `SessionRunner` opens the streams, appends, sleeps and cancels as
/// each action says, and feeds back what happened.
///
/// In the postgres-nio style each event returns an action. Its rules, which
/// `ResearchRunStateMachineTests` check over random orders of events:
/// - at most one create, and never once a response id is known (a response is
///   paid for once);
/// - every provider event is recorded at most once, in increasing provider
///   sequence order (a resumed stream repeats nothing);
/// - a session fails with a response that may still run only after its cancel
///   was answered (settled or refused for good); when the provider cannot be
///   reached to cancel, the run is left to an adopter, never ended;
/// - a stream that keeps ending without progress falls back to polling, and so
///   does one the provider refuses to resume (400/404);
/// - once ended, nothing more happens.
struct ResearchRunStateMachine: Sendable {
    enum State: Sendable, Equatable {
        /// The create stream is open; the provider has not named the response yet.
        case creating
        /// A stream of the named response is open.
        case streaming(responseID: String)
        /// A stream ended early: waiting out the backoff before resuming.
        case waitingToResume(responseID: String)
        /// A fatal provider error with a response that may run: its cancel is in flight.
        case cancelling(responseID: String, message: String)
        /// The response is followed by retrieving it until it ends.
        case polling(responseID: String)
        case ended
    }

    /// How an open stream broke.
    enum StreamFailure: Sendable, Equatable {
        /// The connection dropped, stalled, or the provider answered 5xx/429: resume.
        case retryable
        /// The provider answered 400/404: it refuses to stream this response again
        /// (or, for the create, refuses the request).
        case resumeRefused(String)
        /// Anything else: the provider will not continue this run.
        case fatal(String)
    }

    enum Action: Sendable, Equatable {
        case none
        /// Open the create stream (`stream: true`): the one call that charges.
        case openCreate
        /// Open a resume stream of the response after provider sequence `after` (-1: from the start).
        case openResume(responseID: String, after: Int)
        /// An event already stored: drop it.
        case skip
        /// Append the event's domain events; `chargePoint` and `ends` are written at once.
        case record(chargePoint: Bool, ends: Bool)
        /// Append `session.resumed` (from this provider sequence), wait the backoff, then call `backoffElapsed()`.
        case resumeAfterBackoff(fromProviderSequence: Int32?)
        /// Follow the response by retrieving it until it ends (reconciling what the stream missed).
        case poll(responseID: String)
        /// Cancel the response upstream, then call `upstreamCancelled(_:)`.
        case cancelUpstream(responseID: String)
        /// Append `session.failed`; the run is over.
        case fail(code: String, message: String, retryable: Bool, providerSettled: Bool)
        /// Stop without ending the session: an adopter continues it from the log.
        case leaveToAdopter(String)
    }

    /// The runner found no next step where one was due (a bug in the rules).
    struct Stuck: Error, CustomStringConvertible {
        var state: String
        var action: String
        var description: String { "the research run has no next step in state \(state) after \(action)" }
    }

    private(set) var state: State
    private(set) var lastProviderSequence: Int32?
    private(set) var resumesWithoutProgress = 0
    /// Where the open stream started: an end with nothing new is no progress.
    private var sequenceAtStreamStart: Int32?
    let maxResumesWithoutProgress: Int

    /// A run with nothing at the provider yet, or one continued from the log (`responseID` known).
    init(responseID: String?, lastProviderSequence: Int32?, maxResumesWithoutProgress: Int) {
        self.state = responseID.map { .waitingToResume(responseID: $0) } ?? .creating
        self.lastProviderSequence = lastProviderSequence
        self.maxResumesWithoutProgress = max(1, maxResumesWithoutProgress)
    }

    var responseID: String? {
        switch state {
        case .creating, .ended: nil
        case .streaming(let id), .waitingToResume(let id), .cancelling(let id, _), .polling(let id): id
        }
    }

    /// The first step: create, or (continuing a run) resume after what is stored.
    mutating func start() -> Action {
        switch state {
        case .creating:
            return .openCreate
        case .waitingToResume(let id):
            return openResume(id)
        default:
            return .none
        }
    }

    /// A provider event arrived on the open stream. `accepted` is the response id
    /// it names (the charge point), `ends` whether it ends the run.
    mutating func providerEvent(sequence: Int, accepted: String?, ends: Bool) -> Action {
        switch state {
        case .creating, .streaming:
            break
        default:
            return .none   // a stream that should no longer be read
        }
        if let last = lastProviderSequence, sequence <= Int(last) { return .skip }
        lastProviderSequence = Int32(clamping: sequence)
        var chargePoint = false
        if case .creating = state, let accepted {
            state = .streaming(responseID: accepted)
            chargePoint = true
        }
        if ends { state = .ended }
        return .record(chargePoint: chargePoint, ends: ends)
    }

    /// The open stream ended without a terminal event.
    mutating func streamEnded() -> Action { streamBroke() }

    mutating func streamFailed(_ failure: StreamFailure) -> Action {
        switch (state, failure) {
        case (.creating, .retryable), (.streaming, .retryable):
            return streamBroke()
        case (.creating, .resumeRefused(let message)), (.creating, .fatal(let message)):
            // The create was refused: no response exists, nothing was charged.
            state = .ended
            return .fail(code: "provider_error", message: message, retryable: false, providerSettled: true)
        case (.streaming(let id), .resumeRefused):
            state = .polling(responseID: id)
            return .poll(responseID: id)
        case (.streaming(let id), .fatal(let message)):
            state = .cancelling(responseID: id, message: message)
            return .cancelUpstream(responseID: id)
        default:
            return .none
        }
    }

    /// The backoff after an early end passed: resume.
    mutating func backoffElapsed() -> Action {
        guard case .waitingToResume(let id) = state else { return .none }
        return openResume(id)
    }

    /// What became of the cancel asked for after a fatal error.
    mutating func upstreamCancelled(_ outcome: SessionRunner.UpstreamCancel) -> Action {
        guard case .cancelling(_, let message) = state else { return .none }
        switch outcome {
        case .settled:
            state = .ended
            return .fail(code: "provider_error", message: message, retryable: false, providerSettled: true)
        case .refused:
            state = .ended
            return .fail(code: "provider_error", message: message, retryable: false, providerSettled: false)
        case .unreachable(let why):
            state = .ended
            return .leaveToAdopter(why)
        }
    }

    /// Polling reached the end of the response.
    mutating func pollingEnded() {
        if case .polling = state { state = .ended }
    }

    private mutating func openResume(_ id: String) -> Action {
        state = .streaming(responseID: id)
        sequenceAtStreamStart = lastProviderSequence
        return .openResume(responseID: id, after: Int(lastProviderSequence ?? -1))
    }

    private mutating func streamBroke() -> Action {
        switch state {
        case .creating:
            // Without the response's id there is nothing to resume by, and creating
            // again could pay twice: the session fails, its charge unknown.
            state = .ended
            return .fail(code: "provider_unreachable", message: "The research model's stream broke before it started.", retryable: true,
                         providerSettled: false)
        case .streaming(let id):
            resumesWithoutProgress = lastProviderSequence == sequenceAtStreamStart ? resumesWithoutProgress + 1 : 0
            if resumesWithoutProgress >= maxResumesWithoutProgress {
                state = .polling(responseID: id)
                return .poll(responseID: id)
            }
            state = .waitingToResume(responseID: id)
            return .resumeAfterBackoff(fromProviderSequence: lastProviderSequence)
        default:
            return .none
        }
    }
}
