import Logging
import Synchronization

/// A small pool of `PostgresConnection`s, each on its own thread.
///
/// Connections are opened lazily up to `maximumConnections`; callers beyond that
/// wait their turn. A connection the server dropped is detected when it is next
/// taken from the pool and re-established before the caller sees it.
public final class PostgresPool: Sendable {
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<PostgresConnection, any Error>
        /// The timer that fails it after the checkout timeout; cancelled once it is
        /// served (a sleeping task left behind per checkout cost a task and its
        /// slabs for the whole timeout: thousands of them when a burst waited).
        var expiry: Task<Void, Never>?
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var opened = 0
        var waiters: [Waiter] = []
        var nextWaiter = 0
        var closed = false
    }

    public let settings: ConnectionSettings
    public let maximumConnections: Int
    /// How long a caller waits for a free connection before `PostgresError`
    /// `.poolTimeout` (nil: as long as it takes). A request then fails fast with
    /// a clear error instead of queueing behind a stuck database.
    public let checkoutTimeout: Duration?
    private let logger: Logger
    private let state = Mutex(State())

    public init(settings: ConnectionSettings, maximumConnections: Int = 8, checkoutTimeout: Duration? = nil,
                logger: Logger = Logger(label: "outlinestream.postgres")) {
        precondition(maximumConnections > 0, "a pool needs at least one connection")
        self.settings = settings
        self.maximumConnections = maximumConnections
        self.checkoutTimeout = checkoutTimeout
        self.logger = logger
    }

    private enum Checkout {
        case reuse(PostgresConnection)
        case open
        case wait
        case closed
    }

    private func checkout() async throws -> PostgresConnection {
        let decision: Checkout = state.withLock { state in
            if state.closed { return .closed }
            if let connection = state.idle.popLast() { return .reuse(connection) }
            if state.opened < state.waiters.count + maximumConnections && state.opened < maximumConnections {
                state.opened += 1
                return .open
            }
            return .wait
        }
        switch decision {
        case .closed:
            throw PostgresError(kind: .usage, message: "the connection pool was shut down")
        case .reuse(let connection):
            return try await readied(connection)
        case .open:
            do {
                return try await PostgresConnection.connect(settings, logger: logger)
            } catch {
                state.withLock { $0.opened -= 1 }
                throw error
            }
        case .wait:
            let timeout = checkoutTimeout
            let connection = try await withCheckedThrowingContinuation { continuation in
                let waiting = state.withLock { state -> Int?? in
                    if state.closed { return .some(nil) }
                    if let connection = state.idle.popLast() {
                        continuation.resume(returning: connection)
                        return nil
                    }
                    state.nextWaiter += 1
                    state.waiters.append(Waiter(id: state.nextWaiter, continuation: continuation))
                    return .some(state.nextWaiter)
                }
                switch waiting {
                case .some(nil):
                    continuation.resume(throwing: PostgresError(kind: .usage, message: "the connection pool was shut down"))
                case .some(.some(let id)):
                    if let timeout { expire(waiter: id, after: timeout) }
                case nil:
                    break
                }
            }
            return try await readied(connection)
        }
    }

    /// Fails waiter `id` with `.poolTimeout` if it is still waiting after `timeout`.
    private func expire(waiter id: Int, after timeout: Duration) {
        let maximum = maximumConnections
        let timer = Task { [weak self] in
            do { try await Task.sleep(for: timeout) } catch { return } // served meanwhile
            guard let self else { return }
            let expired = self.state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            expired?.resume(throwing: PostgresError(kind: .poolTimeout,
                                                    message: "no database connection became free within \(timeout) (all \(maximum) are busy)"))
        }
        let stillWaiting = state.withLock { state -> Bool in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return false }
            state.waiters[index].expiry = timer
            return true
        }
        if !stillWaiting { timer.cancel() }
    }

    /// The connection, re-established if the server dropped it; back to the pool if that fails.
    private func readied(_ connection: PostgresConnection) async throws -> PostgresConnection {
        do {
            try await connection.ensureConnected()
        } catch {
            checkin(connection)
            throw error
        }
        return connection
    }

    private func checkin(_ connection: PostgresConnection) {
        let waiter: Waiter? = state.withLock { state in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(connection)
            return nil
        }
        waiter?.expiry?.cancel()
        waiter?.continuation.resume(returning: connection)
    }

    /// Lends a connection to `body` and takes it back afterwards, whatever happens.
    @discardableResult
    public func withConnection<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        let connection = try await checkout()
        do {
            let result = try await body(connection)
            checkin(connection)
            return result
        } catch {
            checkin(connection)
            throw error
        }
    }

    /// Runs `body` inside `BEGIN` ... `COMMIT`, rolling back when it throws.
    @discardableResult
    public func withTransaction<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        try await withConnection { connection in
            try await connection.execute("BEGIN")
            do {
                let result = try await body(connection)
                try await connection.execute("COMMIT")
                return result
            } catch {
                try? await connection.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Runs one statement on any free connection.
    @discardableResult
    public func query(_ sql: String, _ binds: (any PostgresEncodable)?...) async throws -> PostgresRows {
        try await query(sql, binds: binds)
    }

    /// Runs one statement on any free connection.
    @discardableResult
    public func query(_ sql: String, binds: [(any PostgresEncodable)?]) async throws -> PostgresRows {
        try await withConnection { try await $0.query(sql, binds: binds) }
    }

    /// Closes every idle connection and refuses new checkouts.
    public func shutdown() async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.idle.removeAll()
                state.waiters.removeAll()
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters {
            waiter.expiry?.cancel()
            waiter.continuation.resume(throwing: PostgresError(kind: .usage, message: "the connection pool was shut down"))
        }
        for connection in idle { await connection.close() }
    }
}
