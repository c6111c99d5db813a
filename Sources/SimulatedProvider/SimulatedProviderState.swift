import Foundation

/// Everything the simulated provider remembers: the responses it created and
/// how many times it was asked to create one, per outline session, so tests can
/// prove that nothing was charged twice.
public actor SimulatedProviderState {
    var responses: [String: SimulatedResponse] = [:]
    public private(set) var createCount = 0
    public private(set) var createCountBySession: [String: Int] = [:]
    /// Configuration-level faults with a number of times still to fire.
    private var remaining: [Int: Int] = [:]

    public init() {}

    func register(_ response: SimulatedResponse, session: String?, deepResearch: Bool = false) {
        var response = response
        if holdsReleased { response.release(at: .now) }
        responses[response.id] = response
        createCount += 1
        if let session { createCountBySession[session, default: 0] += 1 }
        if deepResearch, let session {
            researchCreatesBySession[session, default: 0] += 1
            responsesBySession[session, default: []].append(response.id)
        }
    }

    /// Deep research creates (the expensive, charged calls) per session.
    public private(set) var researchCreatesBySession: [String: Int] = [:]

    /// The W3C `traceparent` each request carried, as the caller's trace joins the provider's.
    public private(set) var traceparents: [(request: String, traceparent: String)] = []
    func noteTraceparent(_ request: String, _ value: String?) {
        if let value { traceparents.append((request, value)) }
    }
    public func researchCreates(forSession session: String) -> Int { researchCreatesBySession[session] ?? 0 }
    public var researchCreateCount: Int { researchCreatesBySession.values.reduce(0, +) }

    func response(_ id: String) -> SimulatedResponse? { responses[id] }

    /// Cancel requests per response id (every call counts, repeats included).
    public private(set) var cancelRequestsByResponse: [String: Int] = [:]
    public func cancelRequests(forResponse id: String) -> Int { cancelRequestsByResponse[id] ?? 0 }

    func countCancelRequest(_ id: String) { cancelRequestsByResponse[id, default: 0] += 1 }

    /// Whether the response would still be running (and billing) now: neither
    /// finished nor cancelled.
    public func isRunning(responseID id: String) -> Bool {
        guard let response = responses[id], !response.cancelled else { return false }
        return response.lastEventIndex(at: .now) < response.transcript.events.count - 1
    }

    /// The deep-research responses created for an outline session, by id.
    public private(set) var responsesBySession: [String: [String]] = [:]
    public func responses(forSession session: String) -> [String] { responsesBySession[session] ?? [] }

    /// Responses whose stream has delivered everything before its hold
    /// (`hold-at:K`) and waits there: a test knows its client is exactly there.
    private var streamsAtHold: Set<String> = []
    func noteStreamHeld(_ id: String) { streamsAtHold.insert(id) }
    /// Whether a stream of this response has reached its hold (and, unless
    /// released since, waits there).
    public func streamReachedHold(responseID id: String) -> Bool { streamsAtHold.contains(id) }

    /// Whether every response of this outline session has a stream waiting at its hold
    /// (false while none was created yet).
    public func streamsReachedHold(session: String) -> Bool {
        let ids = responsesBySession[session] ?? []
        return !ids.isEmpty && ids.allSatisfy(streamsAtHold.contains)
    }

    /// Lets held runs (`hold-at:K`) go on: one response, or every one.
    public func release(responseID id: String) { responses[id]?.release(at: .now) }
    /// Lets the held runs of one outline session go on; returns how many.
    @discardableResult
    public func release(session: String) -> Int {
        let ids = responsesBySession[session] ?? []
        for id in ids { responses[id]?.release(at: .now) }
        return ids.count
    }
    /// Releases every run, and every run created from now on starts released.
    public func releaseAll() {
        holdsReleased = true
        for id in responses.keys { responses[id]?.release(at: .now) }
    }
    private var holdsReleased = false

    /// Cancels a running response; repeat calls change nothing.
    func cancel(_ id: String) -> SimulatedResponse? {
        guard var response = responses[id] else { return nil }
        if !response.cancelled {
            let now = ContinuousClock.now
            if response.lastEventIndex(at: now) < response.transcript.events.count - 1 {
                response.cancelled = true
                response.cancelledAt = response.lastEventIndex(at: now)
            }
            responses[id] = response
        }
        return response
    }

    /// Whether a counted fault (configured with `times`) fires for this request.
    func fires(_ key: Int, times: Int) -> Bool {
        let left = remaining[key] ?? times
        guard left > 0 else { return false }
        remaining[key] = left - 1
        return true
    }

    public func creates(forSession session: String) -> Int { createCountBySession[session] ?? 0 }

    // MARK: Retrieves and webhooks

    /// Retrieve calls per response (a poll; resumed streams are not counted).
    public private(set) var retrievesByResponse: [String: Int] = [:]
    func countRetrieve(_ id: String) { retrievesByResponse[id, default: 0] += 1 }
    public func retrieves(forResponse id: String) -> Int { retrievesByResponse[id] ?? 0 }

    /// When a deep-research response ended (its last event), on the wall clock; nil while it runs.
    public func endedAt(responseID id: String) -> Date? {
        guard let response = responses[id], !response.cancelled else { return nil }
        let now = ContinuousClock.now, last = response.transcript.events.count - 1
        guard response.lastEventIndex(at: now) >= last else { return nil }
        return Date().addingTimeInterval(-(now - response.time(of: last)).secondsValue)
    }

    /// Where webhooks go, and their faults; nil: none are sent.
    public private(set) var webhooks: SimulatedWebhooks?
    public func configureWebhooks(_ webhooks: SimulatedWebhooks?) { self.webhooks = webhooks }
    /// Every delivery attempt, in order (status -1: dropped by the fault).
    public private(set) var webhookAttempts: [SimulatedWebhookAttempt] = []
    func noteWebhook(_ attempt: SimulatedWebhookAttempt) { webhookAttempts.append(attempt) }
    private var announced: Set<String> = []

    /// The deep-research responses that ended (or were cancelled) since the
    /// last call, each once, with their webhook type.
    func takeEnded(now: ContinuousClock.Instant = .now) -> [(responseID: String, type: String)] {
        var ended: [(responseID: String, type: String)] = []
        for id in responsesBySession.values.joined() where !announced.contains(id) {
            guard let response = responses[id] else { continue }
            if response.cancelled {
                ended.append((id, "response.cancelled"))
            } else if !response.faults.contains(.stuckQueued), response.lastEventIndex(at: now) >= response.transcript.events.count - 1 {
                ended.append((id, "response." + response.terminalStatus))
            } else {
                continue
            }
            announced.insert(id)
        }
        return ended
    }

    /// The full outline text of a response's transcript, and its citation URLs.
    public func transcript(ofResponse id: String) -> (text: String, citationURLs: [String])? {
        responses[id].map { ($0.transcript.outputText, $0.transcript.citations.map(\.url)) }
    }
}
