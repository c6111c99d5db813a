import EventLog
import Foundation

/// Appends one session's events through the group commit writer, in small
/// batches: with no delay (the default) whatever is queued goes as soon as the
/// previous append committed; with a delay, events are buffered and flushed when
/// the batch is full, after the delay, or at once for events that must not wait
/// (the charge point, the end of the session). The runner is the session's only writer, so it tracks
/// the expected sequence itself; a conflict means another runner took over.
///
/// When to write is `SessionEventBuffer`'s decision; this actor does the I/O it
/// asks for (appends, the timer) and answers the callers who wait.
actor SessionEventWriter {
    let sessionID: UUID
    private let writer: GroupCommitWriter
    private var buffer: SessionEventBuffer<NewEvent>
    private var waiters: [(target: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    let maxDelay: Duration

    init(sessionID: UUID, writer: GroupCommitWriter, expectedSequence: Int32, maxBatch: Int = 64, maxDelay: Duration = .zero) {
        self.sessionID = sessionID
        self.writer = writer
        self.buffer = SessionEventBuffer(expectedSequence: expectedSequence, maxBatch: maxBatch, writeThrough: maxDelay <= .zero)
        self.maxDelay = maxDelay
    }

    var expectedSequence: Int32 { buffer.expectedSequence }

    /// Queues events; `immediately` flushes them (and everything before) now. A
    /// full batch also waits for its write, so a runner cannot outrun the log.
    func append(_ events: [OutlineEvent], immediately: Bool = false) async throws {
        if let failure = buffer.failure { throw failure }
        let full = buffer.pending.count + events.count >= buffer.maxBatch
        let (target, action) = buffer.queue(events.map { NewEvent($0) }, immediately: immediately)
        perform(action)
        if immediately || full { try await wait(for: target) }
    }

    /// Writes everything queued; returns once it is committed.
    func flush() async throws {
        if let failure = buffer.failure { throw failure }
        let (target, action) = buffer.flushRequested()
        perform(action)
        try await wait(for: target)
    }

    private func wait(for target: Int) async throws {
        if buffer.isAnswered(target) {
            if let failure = buffer.failure { throw failure }
            return
        }
        try await withCheckedThrowingContinuation { waiters.append((target, $0)) }
    }

    private func perform(_ action: SessionEventBuffer<NewEvent>.Action) {
        switch action {
        case .none:
            break
        case .armTimer(let generation):
            Task { [maxDelay] in
                try? await Task.sleep(for: maxDelay)
                self.timerFired(generation)
            }
        case .write(let events, let expectedSequence):
            let append = StreamAppend(sessionID: sessionID, expectedSequence: expectedSequence, events: events)
            Task { [writer] in
                do {
                    let result = try await writer.append(append)
                    self.written(result.lastSequence)
                } catch {
                    self.failed(error)
                }
            }
        }
    }

    private func timerFired(_ generation: Int) {
        perform(buffer.timerFired(generation: generation))
    }

    private func written(_ lastSequence: Int32) {
        let next = buffer.written(lastSequence: lastSequence)
        answerWaiters()
        perform(next)
    }

    private func failed(_ error: any Error) {
        buffer.writeFailed(error)
        answerWaiters()
    }

    private func answerWaiters() {
        var still: [(target: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        for waiter in waiters {
            guard buffer.isAnswered(waiter.target) else { still.append(waiter); continue }
            if let failure = buffer.failure { waiter.continuation.resume(throwing: failure) } else { waiter.continuation.resume() }
        }
        waiters = still
    }
}
