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
///
/// It also knows which heads this process is committing right now, so the hub
/// can tell the NOTIFY of its own commit (whose events the observer hands over
/// at once) from another instance's, and not read the log for what it already
/// has. A head that is not in flight is never ignored: a commit that is not
/// handed over still reaches the feeds by NOTIFY, the log and the head poll.
public final class CommitObservers: Sendable {
    public typealias Observer = @Sendable ([CommittedEvents]) -> Void
    private let observers = Mutex<[Observer]>([])

    private struct Head: Hashable {
        var session: UUID
        var sequence: Int32
    }

    private struct InFlight {
        var nextToken = 0
        var byToken: [Int: [Head]] = [:]
        var heads: [Head: Int] = [:]
    }

    private let inFlight = Mutex(InFlight())

    public init() {}

    public func add(_ observer: @escaping Observer) {
        observers.withLock { $0.append(observer) }
    }

    var isEmpty: Bool { observers.withLock { $0.isEmpty } }

    /// A transaction that will hand its events over begins; its heads follow with `committing`.
    func beginCommit() -> Int {
        inFlight.withLock { state in
            defer { state.nextToken += 1 }
            return state.nextToken
        }
    }

    /// The heads `token`'s transaction will leave its sessions at, once it commits.
    func committing(_ token: Int, heads: [(session: UUID, head: Int32)]) {
        inFlight.withLock { state in
            let keys = heads.map { Head(session: $0.session, sequence: $0.head) }
            state.byToken[token, default: []] += keys
            for key in keys { state.heads[key, default: 0] += 1 }
        }
    }

    /// `token`'s transaction is over (its events handed over, or it failed).
    func endCommit(_ token: Int) {
        inFlight.withLock { state in
            for key in state.byToken.removeValue(forKey: token) ?? [] {
                let count = (state.heads[key] ?? 1) - 1
                state.heads[key] = count > 0 ? count : nil
            }
        }
    }

    /// Whether this process is committing (and will hand over) `session` up to `head`.
    public func isCommitting(_ session: UUID, head: Int32) -> Bool {
        inFlight.withLock { $0.heads[Head(session: session, sequence: head)] != nil }
    }

    func notify(_ committed: [CommittedEvents]) {
        guard !committed.isEmpty else { return }
        for observer in observers.withLock({ $0 }) { observer(committed) }
    }
}
