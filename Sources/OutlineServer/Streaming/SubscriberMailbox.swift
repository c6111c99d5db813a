import Synchronization

/// What the hub has for one SSE client and the client's writer has not taken.
///
/// The writer takes everything queued in one go, so a client that was busy
/// writing gets every batch that arrived meanwhile in one write: batching by
/// what is already queued, never by waiting. No task and no AsyncStream per
/// subscriber; an idle one is this object and its empty queue.
final class SubscriberMailbox: Sendable {
    enum Item: Sendable {
        case batch(SSEBatch)
        case heartbeat
        /// The hub ends the subscription: the client reconnects (here or elsewhere).
        case closed(LiveEventHub.CloseReason)
    }

    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<[Item], Never>?
        var finished = false
        var cancelled = false
    }

    private let state = Mutex(State())

    /// Queues an item; false once the mailbox is finished (the item is dropped).
    @discardableResult
    func post(_ item: Item, finishing: Bool = false) -> Bool {
        let resume = state.withLock { state -> (CheckedContinuation<[Item], Never>, [Item])? in
            guard !state.finished else { return nil }
            state.items.append(item)
            if finishing { state.finished = true }
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            defer { state.items = [] }
            return (waiter, state.items)
        }
        if let (waiter, items) = resume { waiter.resume(returning: items) }
        return true
    }

    /// Ends the mailbox: the writer gets what is queued, then nothing.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[Item], Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: [])
    }

    /// Everything queued, waiting for at least one item; empty when the mailbox
    /// is finished and drained, or the waiting task is cancelled.
    func next() async -> [Item] {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> [Item]? in
                    if !state.items.isEmpty {
                        defer { state.items = [] }
                        return state.items
                    }
                    if state.finished || state.cancelled { return [] }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<[Item], Never>? in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: [])
        }
    }
}
