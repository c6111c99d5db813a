import Foundation
import Synchronization

/// Events of one session that this process just committed, in order, as a live
/// stream sends them.
public struct CommittedEvents: Sendable {
    public var sessionID: UUID
    public var events: [FeedEvent]
    /// When the transaction committed, for the commit → feed stage of the live path.
    public var committedAt: ContinuousClock.Instant
}

/// Who hears of this process's commits the moment they are durable: the live
/// hub, so a stream on this instance gets the bytes it just wrote without
/// waiting for NOTIFY and re-reading them from PostgreSQL. A hint only: an
/// observer that misses one (or another instance's commits) still learns of
/// it from NOTIFY and the log, so correctness never depends on it.
public final class CommitObservers: Sendable {
    public typealias Observer = @Sendable ([CommittedEvents]) -> Void
    private let observers = Mutex<[Observer]>([])

    public init() {}

    public func add(_ observer: @escaping Observer) {
        observers.withLock { $0.append(observer) }
    }

    var isEmpty: Bool { observers.withLock { $0.isEmpty } }

    func notify(_ committed: [CommittedEvents]) {
        guard !committed.isEmpty else { return }
        for observer in observers.withLock({ $0 }) { observer(committed) }
    }
}
