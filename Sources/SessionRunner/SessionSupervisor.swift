import EventLog
import Foundation
import Logging
import Synchronization

/// Runs sessions under leases: takes a session's lease, heartbeats it while the
/// runner works, lets go when the session ends, and adopts sessions whose
/// runner died (lease expired) to continue them from the log.
public struct SessionSupervisor: Sendable {
    public let runner: SessionRunner
    public let leases: SessionLeases
    public let heartbeat: Duration
    private let logger: Logger
    /// Sessions this supervisor is running now (the lease alone cannot tell:
    /// re-acquiring one's own lease succeeds).
    private let running = SessionSet()

    public init(runner: SessionRunner, leases: SessionLeases, heartbeat: Duration? = nil, logger: Logger = Logger(label: "outlinestream.supervisor")) {
        self.runner = runner
        self.leases = leases
        self.heartbeat = heartbeat ?? leases.timeToLive / 3
        self.logger = logger
    }

    public enum Outcome: Sendable, Equatable {
        case finished
        /// Another runner holds the session's lease.
        case heldElsewhere
        /// The lease was lost while running (another runner took over); this one stopped.
        case leaseLost
    }

    /// Runs (or continues) a session while holding its lease. Cancelling the
    /// calling task stops it at once, as a crash would: the lease is not
    /// released and expires, and another runner adopts the session.
    public func run(session: UUID, instructions: String, mode: SessionMode) async throws -> Outcome {
        guard running.insert(session) else { return .heldElsewhere }
        defer { running.remove(session) }
        guard try await leases.acquire(session) else { return .heldElsewhere }
        let outcome: Outcome = try await withThrowingTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                try await runner.research(session: session, instructions: instructions, mode: mode)
                return .finished
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: heartbeat)
                    if try await !leases.renew(session) { return .leaseLost }
                }
            }
            let first = try await group.next()!!
            group.cancelAll()
            return first
        }
        if outcome == .finished { try await leases.release(session) }
        if outcome == .leaseLost { logger.warning("lost the lease of a running session; stopped", metadata: ["session": "\(session)"]) }
        return outcome
    }

    /// One adoption pass: continues every session whose runner is gone, one task
    /// each, and returns how many it took over.
    @discardableResult
    public func adoptExpired() async throws -> Int {
        let orphans = try await leases.adoptable()
        var adopted = 0
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for orphan in orphans {
                group.addTask {
                    logger.info("adopting a session whose runner is gone", metadata: ["session": "\(orphan.session)"])
                    return try await run(session: orphan.session, instructions: orphan.instructions,
                                         mode: SessionMode(rawValue: orphan.mode) ?? .streaming) == .finished
                }
            }
            for try await finished in group where finished { adopted += 1 }
        }
        return adopted
    }

    /// Adopts orphaned sessions at start-up and then every `interval`, until the
    /// calling task is cancelled. Each adopted session runs in its own child
    /// task; a pass never waits for earlier adoptions to finish.
    public func runAdoption(every interval: Duration) async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                do {
                    for orphan in try await leases.adoptable() where !running.contains(orphan.session) {
                        group.addTask {
                            logger.info("adopting a session whose runner is gone", metadata: ["session": "\(orphan.session)"])
                            do {
                                _ = try await run(session: orphan.session, instructions: orphan.instructions, mode: SessionMode(rawValue: orphan.mode) ?? .streaming)
                            } catch {
                                logger.error("an adopted session failed", metadata: ["session": "\(orphan.session)", "error": "\(error)"])
                            }
                        }
                    }
                } catch {
                    logger.warning("adoption pass failed; will retry", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// A set of session ids shared by a supervisor's tasks.
final class SessionSet: Sendable {
    private let ids = Mutex(Set<UUID>())
    /// False when it was already there.
    func insert(_ id: UUID) -> Bool { ids.withLock { $0.insert(id).inserted } }
    func remove(_ id: UUID) { _ = ids.withLock { $0.remove(id) } }
    func contains(_ id: UUID) -> Bool { ids.withLock { $0.contains(id) } }
}
