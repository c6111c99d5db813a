import Foundation
import Logging
import Metrics

/// Session reads that a streaming standby may serve (`DATABASE_READ_URL`: SSE
/// backlogs, replays, the events feed, Durable Streams catch-up) without ever
/// showing a client less than it may already have seen.
///
/// A session's sequences are dense, so a page read after `after` that must
/// reach `through` (the head the caller already knows: the read-model row it
/// checked access against, the start of the live feed) is complete exactly when
/// its last sequence is `min(after + limit, through)`. A standby that has not
/// replayed that far yet is asked again every `retryEvery` for `patience`; then
/// the primary answers. A standby that cannot be reached is skipped at once.
/// Without a standby every read goes to the primary, as before.
public struct ReplicaAwareReads: Sendable {
    public let primary: EventStore
    public let standby: EventStore?
    public let patience: Duration
    public let retryEvery: Duration
    let logger: Logger

    /// Where each read was served, and why the primary answered one (Prometheus).
    static let standbyReads = Counter(label: "outline_replica_reads_total", dimensions: [("served_by", "standby")])
    static let laggedReads = Counter(label: "outline_replica_reads_total", dimensions: [("served_by", "primary"), ("reason", "standby_behind")])
    static let failedReads = Counter(label: "outline_replica_reads_total", dimensions: [("served_by", "primary"), ("reason", "standby_unreachable")])
    static let waits = Counter(label: "outline_replica_read_waits_total")

    public init(primary: EventStore, standby: EventStore? = nil, patience: Duration = .milliseconds(500), retryEvery: Duration = .milliseconds(20),
                logger: Logger = Logger(label: "outlinestream.replica")) {
        self.primary = primary
        self.standby = standby
        self.patience = patience
        self.retryEvery = retryEvery
        self.logger = logger
    }

    /// `readFeed` (sequence, type, JSON) after `after`, reaching at least `through` (0: no promise).
    public func readFeed(session: UUID, after: Int32, through: Int32, limit: Int = 1000) async throws -> [FeedEvent] {
        try await served(after: after, through: through, limit: limit, last: \.sequence) { try await $0.readFeed(session: session, after: after, limit: limit) }
    }

    /// `read` (decoded events) after `after`, reaching at least `through` (0: no promise).
    public func read(session: UUID, after: Int32, through: Int32, limit: Int = 1000) async throws -> [RecordedEvent] {
        try await served(after: after, through: through, limit: limit, last: \.sequence) { try await $0.read(session: session, after: after, limit: limit) }
    }

    /// The last sequence a complete page must reach, or nil when the caller promised nothing past `after`.
    static func required(after: Int32, through: Int32, limit: Int) -> Int32? {
        guard through > after, limit > 0 else { return nil }
        return Int32(min(Int64(after) + Int64(limit), Int64(through)))
    }

    private func served<T>(after: Int32, through: Int32, limit: Int, last: KeyPath<T, Int32>,
                           _ read: (EventStore) async throws -> [T]) async throws -> [T] {
        guard let standby else { return try await read(primary) }
        let required = Self.required(after: after, through: through, limit: limit)
        let deadline = ContinuousClock.now + patience
        var waited = false
        while true {
            let page: [T]
            do {
                page = try await read(standby)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                Self.failedReads.increment()
                logger.warning("the standby cannot serve a read; the primary answers", metadata: ["error": "\(error)"])
                return try await read(primary)
            }
            guard let required else { Self.standbyReads.increment(); return page }
            if let reached = page.last?[keyPath: last], reached >= required {
                Self.standbyReads.increment()
                return page
            }
            guard ContinuousClock.now + retryEvery < deadline else {
                Self.laggedReads.increment()
                return try await read(primary)
            }
            if !waited { Self.waits.increment(); waited = true }
            try await Task.sleep(for: retryEvery)
        }
    }
}
