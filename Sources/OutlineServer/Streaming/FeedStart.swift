import Synchronization

/// The sequence after which a feed delivers to one subscriber, known once the
/// feed has read its starting head. A subscriber reads the log up to at least
/// this point itself, so nothing falls between its backlog and the live tail.
final class FeedStart: Sendable {
    private struct State {
        var value: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }
    private let state = Mutex(State())

    func fulfill(_ value: Int32) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int32, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    var value: Int32 {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Int32? in
                    if let value = state.value { return value }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
