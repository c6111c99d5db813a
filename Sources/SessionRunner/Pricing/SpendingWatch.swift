import EventLog
import Foundation

/// Asked by a running session, every `SessionRunner.Settings.spendingCheckInterval`,
/// whether what it has cost so far (estimated from its log) takes its user or
/// its workflow past a hard cap. The runner cancels the provider's response and
/// ends the session with the reason this returns. The service answers from the
/// read model (`SpendingLedger`); the runner itself knows nothing of budgets.
public protocol SpendingWatch: Sendable {
    /// Nil while the session may go on; otherwise why it must stop, in the user's terms.
    func hardCapReached(session: UUID, runningCost: ProviderCost) async -> String?
}

/// Spaces a running session's spending checks `interval` apart (the first is due at once).
struct SpendingCheck {
    let interval: Duration
    private var last: ContinuousClock.Instant?

    init(interval: Duration) { self.interval = interval }

    mutating func due(now: ContinuousClock.Instant = .now) -> Bool {
        if let last, now - last < interval { return false }
        last = now
        return true
    }
}
