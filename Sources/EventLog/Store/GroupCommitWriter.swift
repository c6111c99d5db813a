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
    private struct Pending {
        var append: EncodedAppend
        var continuation: CheckedContinuation<AppendResult, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var flushers = 0
        /// Sessions in a transaction now: their later appends wait for the next one,
        /// so one session's appends commit in the order they were made.
        var inFlight = Set<UUID>()
    }

    public let store: EventStore
    public let maxEventsPerTransaction: Int
    public let maxConcurrentTransactions: Int
    private let state = Mutex(State())

    public init(store: EventStore, maxEventsPerTransaction: Int = 5000, maxConcurrentTransactions: Int = 2) {
        precondition(maxEventsPerTransaction > 0 && maxConcurrentTransactions > 0)
        self.store = store
        self.maxEventsPerTransaction = maxEventsPerTransaction
        self.maxConcurrentTransactions = maxConcurrentTransactions
    }

    /// Appends, sharing a transaction with whatever else is waiting; returns once committed.
    @discardableResult
    public func append(_ append: StreamAppend) async throws -> AppendResult {
        let append = try EncodedAppend(append)
        return try await withCheckedThrowingContinuation { continuation in
            let startFlusher = state.withLock { state -> Bool in
                state.pending.append(Pending(append: append, continuation: continuation))
                guard state.flushers < maxConcurrentTransactions else { return false }
                state.flushers += 1
                return true
            }
            if startFlusher {
                Task { await self.flush() }
            }
        }
    }

    private func takeBatch() -> [Pending] {
        state.withLock { state in
            var batch: [Pending] = []
            var rest: [Pending] = []
            var events = 0
            var blocked = state.inFlight
            var taken = Set<UUID>()
            for item in state.pending {
                let session = item.append.sessionID
                let fits = events == 0 || events + item.append.eventCount <= maxEventsPerTransaction
                if fits && !blocked.contains(session) {
                    batch.append(item)
                    taken.insert(session)
                    events += item.append.eventCount
                } else {
                    // Keep the session's order: nothing of it may overtake this one.
                    blocked.insert(session)
                    rest.append(item)
                }
            }
            state.pending = rest
            state.inFlight.formUnion(taken)
            if batch.isEmpty { state.flushers -= 1 }
            return batch
        }
    }

    private func flush() async {
        while true {
            let batch = takeBatch()
            if batch.isEmpty { return }
            do {
                let results = try await store.append(encoded: batch.map(\.append))
                let positions = Dictionary(results.map { ($0.sessionID, $0.lastPosition) }, uniquingKeysWith: max)
                finish(batch)
                for item in batch {
                    let append = item.append
                    item.continuation.resume(returning: AppendResult(
                        sessionID: append.sessionID,
                        firstSequence: append.expectedSequence + 1,
                        lastSequence: append.expectedSequence + Int32(append.eventCount),
                        lastPosition: positions[append.sessionID] ?? 0
                    ))
                }
            } catch {
                if batch.count == 1 {
                    finish(batch)
                    batch[0].continuation.resume(throwing: error)
                    continue
                }
                // Isolate the append at fault: the others commit on their own.
                for item in batch {
                    do {
                        item.continuation.resume(returning: try await store.append(encoded: [item.append])[0])
                    } catch {
                        item.continuation.resume(throwing: error)
                    }
                }
                finish(batch)
            }
        }
    }

    private func finish(_ batch: [Pending]) {
        state.withLock { state in
            for item in batch { state.inFlight.remove(item.append.sessionID) }
        }
    }
}
