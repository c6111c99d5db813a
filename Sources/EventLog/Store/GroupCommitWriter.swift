import Foundation
import Synchronization

/// Gathers appends that many tasks make at the same time into few transactions.
///
/// Every commit waits for a WAL flush, and every notifying commit holds a
/// server-wide lock until that flush: one event per transaction tops out near
/// 2,800 events/s here. While one transaction is in flight, the appends that
/// arrive queue up and go together in the next one, so a busy log commits
/// hundreds of events, of many sessions, per flush. A transaction that fails
/// (one session's conflict aborts it) is retried append by append, so only the
/// append at fault sees the error.
public final class GroupCommitWriter: Sendable {
    /// An append waiting for its transaction, and who waits for its result.
    private struct Waiting: Sendable {
        var append: EncodedAppend
        var continuation: CheckedContinuation<AppendResult, any Error>
    }
    private typealias Pending = GroupCommitQueue<Waiting>.Item

    public let store: EventStore
    public let maxEventsPerTransaction: Int
    public let maxConcurrentTransactions: Int
    /// The decisions (which appends share a transaction, how many run); this
    /// type only does what they say.
    private let queue: Mutex<GroupCommitQueue<Waiting>>

    public init(store: EventStore, maxEventsPerTransaction: Int = 5000, maxConcurrentTransactions: Int = 2) {
        precondition(maxEventsPerTransaction > 0 && maxConcurrentTransactions > 0)
        self.store = store
        self.maxEventsPerTransaction = maxEventsPerTransaction
        self.maxConcurrentTransactions = maxConcurrentTransactions
        self.queue = Mutex(GroupCommitQueue(maxEvents: maxEventsPerTransaction, maxFlushers: maxConcurrentTransactions))
    }

    /// Appends, sharing a transaction with whatever else is waiting; returns once committed.
    @discardableResult
    public func append(_ append: StreamAppend) async throws -> AppendResult {
        let append = try EncodedAppend(append)
        return try await AppendSpan.around(session: append.sessionID, events: append.eventCount, firstSequence: append.expectedSequence + 1) {
            try await enqueue(append)
        }
    }

    private func enqueue(_ append: EncodedAppend) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            let item = Pending(sessionID: append.sessionID, eventCount: append.eventCount, payload: Waiting(append: append, continuation: continuation))
            switch queue.withLock({ $0.appended(item) }) {
            case .startFlusher: Task { await self.flush() }
            case .none: break
            }
        }
    }

    /// A flusher: commits batch after batch on one connection's thread while the
    /// queue has any (`EventStore.appendBatches`), answering each batch's waiters
    /// there; a batch that fails is isolated here, then the loop goes on.
    private func flush() async {
        while true {
            let failed: (batch: [Pending], error: any Error)?
            do {
                failed = try await store.appendBatches(
                    next: { [self] in
                        guard case .commit(let batch) = queue.withLock({ $0.nextBatch() }) else { return nil }
                        return batch
                    },
                    appends: { batch in batch.map(\.payload.append) },
                    committed: { [self] batch, results in
                        queue.withLock { $0.finished(batch) }
                        Self.answer(batch, results)
                    }
                )
            } catch {
                // No connection to run on: the next batch gets the old path (and,
                // most likely, the error); the flusher goes on while there is work.
                guard case .commit(let batch) = queue.withLock({ $0.nextBatch() }) else { return }
                failed = (batch, error)
            }
            guard let (batch, error) = failed else { return } // the queue ran dry: this flusher stopped
            await isolate(batch, after: error)
        }
    }

    private static func answer(_ batch: [Pending], _ results: [AppendResult]) {
        let positions = Dictionary(results.map { ($0.sessionID, $0.lastPosition) }, uniquingKeysWith: max)
        for item in batch {
            let append = item.payload.append
            item.payload.continuation.resume(returning: AppendResult(
                sessionID: append.sessionID,
                firstSequence: append.expectedSequence + 1,
                lastSequence: append.expectedSequence + Int32(append.eventCount),
                lastPosition: positions[append.sessionID] ?? 0
            ))
        }
    }

    /// A batch's transaction failed: a single append gets the error; several are
    /// retried one by one, so only the append at fault sees it.
    private func isolate(_ batch: [Pending], after error: any Error) async {
        if batch.count == 1 {
            queue.withLock { $0.finished(batch) }
            batch[0].payload.continuation.resume(throwing: error)
            return
        }
        for item in batch {
            do {
                item.payload.continuation.resume(returning: try await store.append(encoded: [item.payload.append])[0])
            } catch {
                item.payload.continuation.resume(throwing: error)
            }
        }
        queue.withLock { $0.finished(batch) }
    }
}
