import EventLog
import Foundation

/// Appends one session's events through the group commit writer, in small
/// batches: events are buffered and flushed when the batch is full, after a few
/// milliseconds, or at once for events that must not wait (the charge point, the
/// end of the session). The runner is the session's only writer, so it tracks
/// the expected sequence itself; a conflict means another runner took over.
actor SessionEventWriter {
    let sessionID: UUID
    private let writer: GroupCommitWriter
    private(set) var expectedSequence: Int32
    private var pending: [NewEvent] = []
    private var flushTask: Task<Void, Never>?
    private var failure: (any Error)?
    let maxBatch: Int
    let maxDelay: Duration

    init(sessionID: UUID, writer: GroupCommitWriter, expectedSequence: Int32, maxBatch: Int = 64, maxDelay: Duration = .milliseconds(5)) {
        self.sessionID = sessionID
        self.writer = writer
        self.expectedSequence = expectedSequence
        self.maxBatch = maxBatch
        self.maxDelay = maxDelay
    }

    /// Queues events; `immediately` flushes them (and everything before) now.
    func append(_ events: [OutlineEvent], immediately: Bool = false) async throws {
        if let failure { throw failure }
        pending += events.map { NewEvent($0) }
        if immediately || pending.count >= maxBatch {
            try await flush()
        } else if flushTask == nil {
            flushTask = Task { [maxDelay] in
                try? await Task.sleep(for: maxDelay)
                try? await self.flush()
            }
        }
    }

    /// The append in flight: appends of one session must commit one after the
    /// other (each expects the sequence the previous one left).
    private var inFlight: Task<AppendResult, any Error>?

    /// Writes everything queued; returns once it is committed.
    func flush() async throws {
        flushTask?.cancel()
        flushTask = nil
        // Actor methods interleave at every await: wait until no append is in flight.
        // Whoever sees the append finish records its result, so the next append
        // never starts from a stale sequence.
        while let current = inFlight {
            do {
                expectedSequence = max(expectedSequence, try await current.value.lastSequence)
            } catch {
                failure = error
            }
            if inFlight == current { inFlight = nil }
        }
        if let failure { throw failure }
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll()
        let append = StreamAppend(sessionID: sessionID, expectedSequence: expectedSequence, events: batch)
        let task = Task { [writer] in try await writer.append(append) }
        inFlight = task
        do {
            let result = try await task.value
            expectedSequence = max(expectedSequence, result.lastSequence)
            if inFlight == task { inFlight = nil }
        } catch {
            failure = error
            if inFlight == task { inFlight = nil }
            throw error
        }
    }
}
