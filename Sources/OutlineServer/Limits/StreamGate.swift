import Synchronization

/// Caps the SSE and replay connections one user holds open on this instance:
/// each is a socket, a subscription and buffers, and a script that opens
/// thousands would starve everyone else. Past the cap a new stream is refused
/// with 429 and the user's own count.
final class StreamGate: Sendable {
    let maximumPerUser: Int
    private let open = Mutex<[String: Int]>([:])

    init(maximumPerUser: Int) {
        self.maximumPerUser = maximumPerUser
    }

    /// Holds one of `user`'s stream slots until the ticket is released or dropped
    /// (a response body that is never run still gives its slot back).
    final class Ticket: Sendable {
        private let gate: StreamGate
        private let user: String
        private let released = Atomic<Bool>(false)

        fileprivate init(gate: StreamGate, user: String) {
            self.gate = gate
            self.user = user
        }

        func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            gate.open.withLock { open in
                let left = (open[user] ?? 1) - 1
                open[user] = left > 0 ? left : nil
            }
        }

        deinit { release() }
    }

    func admit(_ user: String) throws -> Ticket {
        let current: Int? = open.withLock { open in
            let count = open[user] ?? 0
            guard count < maximumPerUser else { return count }
            open[user] = count + 1
            return nil
        }
        if let current {
            throw UsageLimitExceeded(limit: "open_streams", current: current, maximum: maximumPerUser, retryAfterSeconds: 5,
                                     explanation: "You have as many streams open as you may; close one (another tab, another script) first").apiError
        }
        return Ticket(gate: self, user: user)
    }

    /// Open streams per user, for the diagnostics page and `/metrics`.
    var openByUser: [String: Int] { open.withLock { $0 } }
}
