import EventLog
import Foundation
import Logging

/// Runs sessions under leases: takes a session's lease, heartbeats it while the
/// runner works, lets go when the session ends, and adopts sessions whose
/// runner died (lease expired) to continue them from the log.
public struct SessionSupervisor: Sendable {
    public let runner: SessionRunner
    public let leases: SessionLeases
    public let heartbeat: Duration
    private let logger: Logger

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
}
