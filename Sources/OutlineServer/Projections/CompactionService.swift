import EventLog
import OutlineProjections
import Logging
import ServiceLifecycle

/// Compacts finished sessions in the background, in every instance: each pass
/// takes the sessions that ended at least `settle` ago, one transaction each
/// (`Compactor`), removes the sessions past their retention policy
/// (`SessionRetention`), keeps an empty log partition ready ahead of the
/// appends (`LogPartitions.ensureAhead`), then waits `interval`. Several instances can run it at once:
/// a session's head row lock and its `outline_compacted_sessions` row make the
/// second one skip it. A graceful shutdown ends it between sessions.
public struct CompactionService: Service {
    /// `OUTLINE_COMPACTION_INTERVAL_SECONDS` (0 turns it off),
    /// `OUTLINE_COMPACTION_SETTLE_SECONDS`: how long a finished session stays hot
    /// (its last readers are usually still on it);
    /// `OUTLINE_COMPACTION_PACK_SESSIONS` and `OUTLINE_COMPACTION_PACK_WAIT_SECONDS`:
    /// small sessions are packed once that many wait or the oldest waited that long
    /// (a pack shares its row and its index entries among its members).
    public struct Settings: Sendable, Equatable {
        public var interval: Duration? = .seconds(30)
        public var settle: Duration = .seconds(300)
        public var packSessions = 16
        public var packWait: Duration = .seconds(3600)
        public var sessionsPerPass = 200
        public init() {}
    }

    let compactor: Compactor
    let partitions: LogPartitions
    let retention: SessionRetention
    let settings: Settings
    let logger: Logger

    public func run() async throws {
        guard let interval = settings.interval else {
            // Turned off: stay until shutdown (a service that returns ends the whole group).
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let summary = try await compactor.compactPending(settled: settings.settle, limit: settings.sessionsPerPass)
                    if summary.sessions > 0 || !summary.broken.isEmpty {
                        logger.info("compacted finished sessions", metadata: [
                            "sessions": "\(summary.sessions)", "events": "\(summary.events)", "json_bytes": "\(summary.jsonSize)",
                            "stored_bytes": "\(summary.storedSize)", "not_verifying": "\(summary.broken.count)",
                        ])
                    }
                    let removed = try await retention.apply(actor: "outline-server background pass").filter {
                        if case .removed = $0.1 { return true } else { return false }
                    }
                    if !removed.isEmpty { logger.info("removed sessions past their retention", metadata: ["sessions": "\(removed.count)"]) }
                    let created = try await partitions.ensureAhead()
                    if !created.isEmpty { logger.info("created log partitions ahead of the appends", metadata: ["partitions": "\(created)"]) }
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("a compaction pass failed; the next one retries", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
