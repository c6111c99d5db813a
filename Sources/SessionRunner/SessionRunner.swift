import EventLog
import Foundation
import Logging
import OpenAIResponses
import OutlineBasics
import Tracing

/// Drives a session's deep research at the provider and records it in the log,
/// exactly once: every provider event is appended once, in order, with its
/// provider sequence number, however often the stream drops or stalls.
///
/// Streaming (V3): create with `stream: true`; on a dropped or stalled stream,
/// resume after the last stored provider sequence number; when the provider
/// refuses to resume (the stream is too old) or keeps failing, poll the response
/// until it ends and reconcile what the stream had not delivered (the missing
/// text and citations), so the log still ends with the complete outline.
/// Polling (V2): create in background mode and poll, recording each poll.
///
/// The charge point: `provider.request_started` is committed before the create
/// call and `provider.response_accepted` (with the response id) as soon as the
/// provider names the response, in its own transaction. A crash between the two
/// leaves a started request without a response id: an adopting runner sees it
/// and fails the session rather than paying again blindly.
public struct SessionRunner: Sendable {
    public struct Settings: Sendable {
        public var model: String
        /// The fast model that writes clarification questions and research instructions.
        public var fastModel: String
        public var pollInterval: Duration
        /// Resume attempts in a row without progress before falling back to polling.
        public var maxResumesWithoutProgress: Int
        public var resumeBackoff: Duration
        /// A response still queued after this long is cancelled and the session
        /// fails with a clear message, instead of waiting forever.
        public var maxQueuedTime: Duration
        /// How usage becomes money on the terminal event (`OUTLINE_PRICES`).
        public var prices: PriceTable
        /// How often a running session asks its `SpendingWatch` whether it crossed a hard cap.
        public var spendingCheckInterval: Duration
        /// With webhooks (a secret configured): how often a followed response is
        /// polled at the provider anyway, in case its webhook never comes. Nil: no
        /// webhooks, poll every `pollInterval`.
        public var webhookFallbackPollInterval: Duration?
        /// With webhooks: how often the runner looks in its `WebhookInbox` (the database, not the provider).
        public var webhookCheckInterval: Duration

        public init(model: String = "o3-deep-research", fastModel: String = "gpt-4.1-mini", pollInterval: Duration = .seconds(5), maxResumesWithoutProgress: Int = 5,
                    resumeBackoff: Duration = .milliseconds(200), maxQueuedTime: Duration = .seconds(1800), prices: PriceTable = .defaults,
                    spendingCheckInterval: Duration = .seconds(5)) {
            self.model = model
            self.fastModel = fastModel
            self.pollInterval = pollInterval
            self.maxResumesWithoutProgress = maxResumesWithoutProgress
            self.resumeBackoff = resumeBackoff
            self.maxQueuedTime = maxQueuedTime
            self.prices = prices
            self.spendingCheckInterval = spendingCheckInterval
            self.webhookFallbackPollInterval = nil
            self.webhookCheckInterval = .seconds(1)
        }
    }

    public let store: EventStore
    public let writer: GroupCommitWriter
    public let client: ResponsesClient
    public let settings: Settings
    /// Asked while a session runs whether it crossed a hard cap (nil: no caps).
    public let spendingWatch: (any SpendingWatch)?
    /// Where verified provider webhooks are found (nil, or no fallback interval set: poll).
    public let webhookInbox: (any WebhookInbox)?
    private let logger: Logger

    public init(store: EventStore, writer: GroupCommitWriter, client: ResponsesClient, settings: Settings = Settings(),
                spendingWatch: (any SpendingWatch)? = nil, webhookInbox: (any WebhookInbox)? = nil, logger: Logger = Logger(label: "outlinestream.runner")) {
        self.store = store
        self.writer = writer
        self.client = client
        self.settings = settings
        self.spendingWatch = spendingWatch
        self.webhookInbox = webhookInbox
        self.logger = logger
    }

    /// What the log already says about a session's research, for starting or adopting it.
    struct Progress {
        var head: Int32 = 0
        var requestStarted = false
        var responseID: String?
        var lastProviderSequence: Int32?
        var text = ""
        var citations: [Citation] = []
        /// Web search items whose completion is in the log.
        var searchesCompleted = Set<String>()
        var terminal = false
        var polls: Int32 = 0
        /// The research model the request named.
        var model: String?
        var instructionsCharacters = 0
        var reasoningCharacters = 0

        /// What the log shows of the run, for pricing it when the provider reports no usage.
        var run: RunEstimate {
            RunEstimate(instructionsCharacters: instructionsCharacters, outputCharacters: text.unicodeScalars.count,
                        reasoningCharacters: reasoningCharacters, webSearches: searchesCompleted.count)
        }
    }

    func progress(of session: UUID) async throws -> Progress {
        var progress = Progress()
        var after: Int32 = 0
        while true {
            let page = try await store.read(session: session, after: after, limit: 5000)
            if page.isEmpty { break }
            for recorded in page {
                progress.head = recorded.sequence
                if let sequence = recorded.providerSequence { progress.lastProviderSequence = max(progress.lastProviderSequence ?? sequence, sequence) }
                switch recorded.event {
                case .providerRequestStarted(let started):
                    progress.requestStarted = true
                    progress.model = started.model
                case .researchInstructionsWritten(let written): progress.instructionsCharacters = written.instructions.unicodeScalars.count
                case .reasoningSummaryDelta(let delta): progress.reasoningCharacters += delta.delta.unicodeScalars.count
                case .providerResponseAccepted(let accepted): progress.responseID = accepted.responseId
                case .outputTextDelta(let delta): progress.text += delta.delta
                case .citationAdded(let added): progress.citations.append(added.citation)
                case .webSearchStep(let step) where step.step == .completed: progress.searchesCompleted.insert(step.itemId)
                case .polled(let polled): progress.polls = polled.attempt
                default: if recorded.event.isTerminal { progress.terminal = true }
                }
            }
            after = page.last!.sequence
        }
        return progress
    }

    /// Runs (or, after a crash, continues) a session's research to its end. When
    /// the session ends elsewhere meanwhile (cancelled), it stops quietly.
    ///
    /// No path leaves a provider response billing with nobody watching it: on any
    /// failure the runner cancels the response upstream and ends the session, or,
    /// when it cannot (the provider or the database does not answer), throws and
    /// leaves the session to an adopter, which continues it from the log.
    public func research(session: UUID, instructions: String, mode: SessionMode) async throws {
        do {
            try await researchUnchecked(session: session, instructions: instructions, mode: mode)
        } catch is CancellationError {
            throw CancellationError()
        } catch where Task.isCancelled {
            // A stopped runner (lost lease, shutdown, crash in a test) surfaces as
            // whatever its I/O threw: it ends nothing; the next holder continues.
            throw CancellationError()
        } catch let error as EventLogError {
            if case .sequenceConflict = error {
                // Someone else wrote this session: a cancel (it ended) or an adopter that
                // took the lease over while this runner stalled. Either way it is theirs:
                // ending it here would cancel the response the adopter is streaming.
                if try await progress(of: session).terminal { return }
                throw error
            }
            guard try await endAfterFailure(session: session, code: "internal_error", error: error) else { throw error }
        } catch {
            guard try await endAfterFailure(session: session, code: error is ResponsesError ? "provider_error" : "internal_error", error: error) else { throw error }
        }
    }

    /// What became of a provider response the runner asked to cancel.
    public enum UpstreamCancel: Sendable, Equatable {
        /// Cancelled, or it had already ended: it bills no more.
        case settled
        /// The provider refused for good (4xx other than 404/409): retrying will not help.
        case refused(String)
        /// The provider did not answer (connection, 5xx, 429 after retries).
        case unreachable(String)
    }

    /// Cancels the response upstream (safe to repeat).
    public func cancelUpstream(responseID: String) async -> UpstreamCancel {
        do {
            _ = try await client.cancel(responseID: responseID)
            RunnerMetrics.upstreamCancels.increment()
            return .settled
        } catch let error as ResponsesError {
            if case .http(let status, _, _, _) = error {
                // 404: no such response (any more); 409/400: it already ended.
                if status == 404 || status == 409 || status == 400 { return .settled }
                if !error.isRetryable { return .refused(error.description) }
            }
            return .unreachable(error.description)
        } catch {
            return .unreachable("\(error)")
        }
    }

    /// Ends a session after `error`, cancelling its provider response first when
    /// one may run. False when that could not be done safely (the response could
    /// not be cancelled, or the log did not answer): the caller leaves the session
    /// to an adopter instead of ending it with a response still billing.
    public func endAfterFailure(session: UUID, code: String, error: any Error) async throws -> Bool {
        let progress = try await progress(of: session)
        if progress.terminal { return true }
        var settled = !progress.requestStarted
        var note = ""
        if let responseID = progress.responseID {
            switch await cancelUpstream(responseID: responseID) {
            case .settled: settled = true
            case .refused(let why): note = " The provider refused to cancel the response (\(why))."
            case .unreachable(let why):
                logger.warning("could not cancel a failed session's response upstream; leaving it to an adopter",
                               metadata: ["session": "\(session)", "error": "\(why)"])
                return false
            }
        }
        logger.error("a session failed", metadata: ["session": "\(session)", "error": "\(error)"])
        _ = try await store.appendAtHeadUnlessEnded(session: session, events: [
            NewEvent(.failed(SessionFailed(code: code, message: "The research stopped: \(error).\(note)", retryable: true,
                                           providerSettled: progress.requestStarted && progress.responseID == nil ? false : settled,
                                           cost: estimatedCost(progress)))),
        ])
        return true
    }

    private func researchUnchecked(session: UUID, instructions: String, mode: SessionMode) async throws {
        var progress = try await progress(of: session)
        if progress.terminal { return }
        progress.instructionsCharacters = instructions.unicodeScalars.count
        progress.model = progress.model ?? settings.model
        let events = SessionEventWriter(sessionID: session, writer: writer, expectedSequence: progress.head)
        if progress.responseID != nil {
            // Continuing a run another runner (or an earlier life of this one) started.
            try await events.append([.resumed(SessionResumed(fromProviderSequence: progress.lastProviderSequence,
                                                             reason: "continued after the previous runner stopped"))], immediately: true)
        }
        if progress.responseID == nil {
            if progress.requestStarted {
                // A create may have reached the provider without its id being stored:
                // do not pay twice on a guess.
                try await events.append([.failed(SessionFailed(
                    code: "charge_unknown", message: "The research request's outcome is unknown after an interruption; start the session again.", retryable: true,
                    providerSettled: false))],
                    immediately: true)
                return
            }
            try await events.append([.providerRequestStarted(ProviderRequestStarted(model: settings.model, background: true, stream: mode == .streaming, attempt: 1))],
                                    immediately: true)
        }
        switch mode {
        case .streaming:
            try await stream(session: session, instructions: instructions, progress: &progress, events: events)
        case .polling:
            if progress.responseID == nil {
                var request = CreateResponseRequest.deepResearch(model: settings.model, instructions: instructions, stream: false, sessionID: session.uuidString.lowercased())
                request.stream = false
                let created = try await client.create(request)
                progress.responseID = created.id
                try await appendChargePoint([.providerResponseAccepted(ProviderResponseAccepted(responseId: created.id, status: created.status.rawValue, providerSequence: nil))],
                                            responseID: created.id, events: events)
            }
            try await pollToEnd(progress: &progress, events: events, recordPolls: true)
        }
        try await events.flush()
    }

    /// Streams the response to its end; what to do at each turn (create, resume,
    /// poll, fail, leave to an adopter) is `ResearchRunStateMachine`'s decision.
    private func stream(session: UUID, instructions: String, progress: inout Progress, events: SessionEventWriter) async throws {
        var run = ResearchRunStateMachine(responseID: progress.responseID, lastProviderSequence: progress.lastProviderSequence,
                                          maxResumesWithoutProgress: settings.maxResumesWithoutProgress)
        // Time to first content is measured from this runner's create call only.
        var waitingForContent: ContinuousClock.Instant? = progress.responseID == nil ? .now : nil
        var action = run.start()
        var spending = SpendingCheck(interval: settings.spendingCheckInterval)
        // Each resume is a step of its own (a trace linked to the research run's).
        var resumeSpan: (any Span)?
        defer { resumeSpan?.end() }
        while true {
            try Task.checkCancellation()
            let stream: AsyncThrowingStream<ResponseStreamEvent, any Error>
            switch action {
            case .openCreate:
                stream = client.createStream(.deepResearch(model: settings.model, instructions: instructions, stream: true, sessionID: session.uuidString.lowercased()))
            case .openResume(let responseID, let after):
                resumeSpan?.end()
                let span = SessionStep.start("session.resume", session: session, linkedTo: ServiceContext.current)
                span.attributes["outline.provider.starting_after"] = after
                resumeSpan = span
                stream = ServiceContext.withValue(span.context) { client.resume(responseID: responseID, after: after) }
            case .resumeAfterBackoff(let from):
                try await events.append([.resumed(SessionResumed(fromProviderSequence: from, reason: "stream interrupted"))])
                try await Task.sleep(for: settings.resumeBackoff)
                action = run.backoffElapsed()
                continue
            case .poll:
                try await pollToEnd(progress: &progress, events: events, recordPolls: false)
                run.pollingEnded()
                return
            case .cancelUpstream(let responseID):
                try await events.flush()
                action = run.upstreamCancelled(await cancelUpstream(responseID: responseID))
                continue
            case .fail(let code, let message, let retryable, let providerSettled):
                try await events.append([.failed(SessionFailed(code: code, message: message, retryable: retryable, providerSettled: providerSettled,
                                                               cost: estimatedCost(progress)))],
                                        immediately: true)
                return
            case .leaveToAdopter(let why):
                throw ResponsesError.transport(why)   // the provider did not answer the cancel: an adopter continues the response
            case .none, .skip, .record:
                // No next step for a run that has not ended: a bug, never a quiet stop
                // (that would leave the session active with nobody running it).
                throw ResearchRunStateMachine.Stuck(state: "\(run.state)", action: "\(action)")
            }
            do {
                action = .none
                let finished = try await ServiceContext.withValue(resumeSpan?.context ?? ServiceContext.current ?? .topLevel) { () async throws -> Bool in
                for try await event in stream {
                    var mapped = ProviderEventMapping.domainEvents(for: event, prices: settings.prices, model: progress.model ?? settings.model)
                    var accepted: String?
                    for case .providerResponseAccepted(let a) in mapped { accepted = a.responseId }
                    let ends = mapped.contains { $0.isTerminal }
                    let decision = run.providerEvent(sequence: event.sequenceNumber, accepted: accepted, ends: ends)
                    guard case .record(let chargePoint, _) = decision else { continue }   // already stored
                    progress.lastProviderSequence = run.lastProviderSequence
                    if let accepted, progress.responseID == nil { progress.responseID = accepted }
                    for case .outputTextDelta(let delta) in mapped { progress.text += delta.delta }
                    for case .citationAdded(let added) in mapped { progress.citations.append(added.citation) }
                    for case .webSearchStep(let step) in mapped where step.step == .completed { progress.searchesCompleted.insert(step.itemId) }
                    for case .reasoningSummaryDelta(let delta) in mapped { progress.reasoningCharacters += delta.delta.unicodeScalars.count }
                    if ends { mapped = costed(mapped, progress) }
                    if let started = waitingForContent, mapped.contains(where: \.isContent) {
                        RunnerMetrics.timeToFirstContent.record(duration: ContinuousClock.now - started)
                        LiveSignals.shared.record(.timeToFirstContent, seconds: (ContinuousClock.now - started).secondsValue)
                        waitingForContent = nil
                    }
                    if chargePoint {
                        try await appendChargePoint(mapped, responseID: accepted, events: events)
                    } else if !mapped.isEmpty {
                        try await events.append(mapped, immediately: ends)
                    }
                    if let arrived = event.receivedAt { RunnerMetrics.providerToRunner.recordNanoseconds((ContinuousClock.now - arrived).saturatingNanoseconds) }
                    if ends { return true }
                    if spending.due(), try await stopIfOverHardCap(session: session, progress: progress, events: events) { return true }
                }
                return false
                }
                if finished { return }
                // A cancelled runner stops here, as a crashed one would.
                try Task.checkCancellation()
                logger.info("provider stream ended early; resuming", metadata: ["session": "\(session)"])
                action = run.streamEnded()
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as ResponsesError {
                RunnerMetrics.providerError(error)
                let failure: ResearchRunStateMachine.StreamFailure
                if error.isRetryable {
                    failure = .retryable
                    logger.warning("provider stream interrupted; resuming", metadata: ["session": "\(session)", "error": "\(error)"])
                } else if case .http(let status, _, _, _) = error, status == 400 || status == 404 {
                    failure = .resumeRefused(error.description)
                    // A resume refused: the run polls instead; a create refused: the session fails.
                    logger.warning("provider answered the stream with 400/404", metadata: ["session": "\(session)", "error": "\(error)"])
                } else {
                    failure = .fatal(error.description)
                }
                action = run.streamFailed(failure)
            }
        }
    }

    /// Stores the response id at once. When the session was cancelled while the
    /// create was in flight, the cancel could not know the id: cancel the response
    /// here, so a cancelled session never keeps running (and charging) upstream.
    private func appendChargePoint(_ mapped: [OutlineEvent], responseID: String?, events: SessionEventWriter) async throws {
        do {
            try await events.append(mapped, immediately: true)
        } catch let error as EventLogError {
            // The session ended while the create was in flight (a cancel, or an adopter
            // that found no response id and ended it): nobody will watch this response.
            // Anything short of a terminal log leaves it running for whoever writes now.
            if case .sequenceConflict = error, let responseID, (try? await progress(of: events.sessionID).terminal) != false {
                _ = try? await client.cancel(responseID: responseID)
            }
            throw error
        }
    }

    /// Follows the response until it ends, then appends what the stream missed and the end.
    ///
    /// Without webhooks it polls every `pollInterval`. With them, the provider
    /// says when the response ends: the runner looks in its inbox (the database)
    /// every `webhookCheckInterval`, fetches the response once its webhook is
    /// there, and polls the provider only every `webhookFallbackPollInterval`, in
    /// case the webhook never comes. A V2 session whose webhook arrives ends
    /// with no `session.polled` at all. A streaming run that fell back here asks
    /// the provider at once first: its response may have ended already.
    private func pollToEnd(progress: inout Progress, events: SessionEventWriter, recordPolls: Bool) async throws {
        guard let responseID = progress.responseID else { return }
        var lastStatus: String?
        let started = ContinuousClock.now
        var spending = SpendingCheck(interval: settings.spendingCheckInterval)
        let fallback = settings.webhookFallbackPollInterval
        let inbox = fallback == nil ? nil : webhookInbox
        let pollEvery = inbox == nil ? settings.pollInterval : fallback!
        var nextPoll = inbox != nil && recordPolls ? ContinuousClock.now + pollEvery : ContinuousClock.now
        var announced = false
        while true {
            var fetch = ContinuousClock.now >= nextPoll
            var byWebhook = false
            if let inbox, !announced, let delivery = try await inbox.delivery(forResponse: responseID) {
                announced = true
                fetch = true
                byWebhook = true
                RunnerMetrics.webhookWakeups.increment()
                try await events.append([.webhookReceived(ProviderWebhookReceived(webhookId: delivery.webhookID, webhookType: delivery.type))])
            }
            if fetch {
                let response = try await client.retrieve(responseID: responseID)
                if response.status == .queued, ContinuousClock.now - started > settings.maxQueuedTime {
                    let cancelled = await cancelUpstream(responseID: responseID)
                    if case .unreachable(let why) = cancelled { throw ResponsesError.transport(why) }   // left to an adopter
                    try await events.append([.failed(SessionFailed(
                        code: "stuck_queued", message: "The research model never started: the provider kept the request queued too long. Start it again later.",
                        retryable: true, providerSettled: cancelled == .settled))], immediately: true)
                    return
                }
                if recordPolls && !byWebhook {
                    progress.polls += 1
                    try await events.append([.polled(SessionPolled(attempt: progress.polls, providerStatus: response.status.rawValue))])
                } else if response.status.rawValue != lastStatus, !response.status.isTerminal {
                    try await events.append([.providerStatusChanged(ProviderStatusChanged(status: response.status.rawValue, providerSequence: nil))])
                }
                lastStatus = response.status.rawValue
                if response.status.isTerminal {
                    let closing = Self.reconciliation(streamedText: progress.text, streamedCitations: progress.citations,
                                                      searchesCompleted: progress.searchesCompleted, final: response,
                                                      prices: settings.prices, model: progress.model ?? settings.model)
                    if !recordPolls, closing.contains(where: { if case .outputTextDelta = $0 { true } else if case .citationAdded = $0 { true } else { false } }) {
                        // The stream missed content the final response has: recovered, but a trigger to watch.
                        LiveSignals.shared.count(.missingContent)
                    }
                    try await events.append(costed(closing, progress), immediately: true)
                    return
                }
                nextPoll = ContinuousClock.now + pollEvery
            }
            // What the log shows of a polled run is little (no deltas): its searches, once known.
            if spending.due(), try await stopIfOverHardCap(session: events.sessionID, progress: progress, events: events) { return }
            try await Task.sleep(for: inbox == nil ? pollEvery : min(settings.webhookCheckInterval, max(nextPoll - .now, .zero)))
        }
    }

    /// The events that complete a log from the final response: the searches,
    /// text and citations the stream did not deliver, then the end.
    static func reconciliation(streamedText: String, streamedCitations: [Citation], searchesCompleted: Set<String>, final: ResponseObject,
                               prices: PriceTable? = nil, model: String = "") -> [OutlineEvent] {
        var events: [OutlineEvent] = []
        for item in final.output where item.type == "web_search_call" {
            guard let id = item.id, !searchesCompleted.contains(id) else { continue }
            events.append(.webSearchStep(WebSearchStep(itemId: id, step: .completed, query: nil, providerSequence: nil)))
            if let query = item.action?.query {
                events.append(.webSearchStep(WebSearchStep(itemId: id, step: .described, query: query, providerSequence: nil)))
            }
        }
        if final.status == .completed {
            let finalText = final.outputText
            if finalText.utf8.starts(with: streamedText.utf8), finalText.utf8.count > streamedText.utf8.count {
                let missing = String(finalText.utf8.dropFirst(streamedText.utf8.count))!
                events.append(.outputTextDelta(OutputTextDelta(itemId: nil, outputIndex: 0, contentIndex: 0, delta: missing, providerSequence: nil)))
            }
            let known = Set(streamedCitations)
            for citation in final.citations.safeCitations where !known.contains(citation) {
                events.append(.citationAdded(CitationAdded(citation: citation, providerSequence: nil)))
            }
        }
        return events + ProviderEventMapping.terminalEvents(for: final, providerSequence: nil, prices: prices, model: model)
    }

    // MARK: Cost

    /// The run's cost so far, estimated from its log; nil when no response was
    /// created (nothing was charged).
    func estimatedCost(_ progress: Progress) -> ProviderCost? {
        guard progress.responseID != nil else { return nil }
        return settings.prices.estimate(model: progress.model ?? settings.model, progress.run)
    }

    /// `events` with an estimated cost on a terminal event the provider reported no usage for.
    func costed(_ events: [OutlineEvent], _ progress: Progress) -> [OutlineEvent] {
        events.map { event in
            guard event.isTerminal, event.cost == nil, let estimate = estimatedCost(progress) else { return event }
            switch event {
            case .completed(var completed): completed.cost = estimate; return .completed(completed)
            case .failed(var failed): failed.cost = estimate; return .failed(failed)
            case .cancelled(var cancelled): cancelled.cost = estimate; return .cancelled(cancelled)
            default: return event
            }
        }
    }

    /// Asks the spending watch about the run's cost so far; past a hard cap,
    /// cancels the response upstream and ends the session saying why. True when
    /// it ended the session. A cancel the provider does not answer leaves the
    /// session to an adopter (which asks again), never billing unwatched.
    private func stopIfOverHardCap(session: UUID, progress: Progress, events: SessionEventWriter) async throws -> Bool {
        guard let watch = spendingWatch, let responseID = progress.responseID, let estimate = estimatedCost(progress),
              let reason = await watch.hardCapReached(session: session, runningCost: estimate) else { return false }
        logger.warning("a session crossed a hard spending cap; cancelling it", metadata: ["session": "\(session)", "reason": "\(reason)"])
        try await events.flush()
        if case .unreachable(let why) = await cancelUpstream(responseID: responseID) { throw ResponsesError.transport(why) }
        RunnerMetrics.hardCapStops.increment()
        try await events.append([.cancelled(SessionCancelled(cancelledBy: "budget", reason: reason, cost: estimate))], immediately: true)
        return true
    }
}
