import Foundation

/// How much money a user, and a workflow, may spend on research per period.
/// A deep-research run costs dollars, not cents: a start that would take a
/// budget past its amount is refused before the provider is called, and a
/// running session that takes it past the hard cap (the budget plus a margin,
/// for runs already under way) is cancelled at the provider.
///
/// Periods are calendar periods in UTC (`day`, `week` from Monday, `month`), so
/// every instance agrees on when a budget resets; a session counts in the
/// period it was started in.
public struct SpendingBudgets: Sendable, Equatable {
    public enum Period: String, Sendable, Equatable, CaseIterable {
        case day, week, month
    }

    /// Per user (`OUTLINE_BUDGET_USER_USD`; nil: none), in micro-dollars.
    public var perUser: Int64?
    /// Per workflow (`OUTLINE_BUDGET_WORKFLOW_USD`; nil: none), in micro-dollars.
    public var perWorkflow: Int64?
    /// `OUTLINE_BUDGET_PERIOD`.
    public var period: Period
    /// What a start sets aside for the run it begins (`OUTLINE_BUDGET_START_RESERVE_USD`):
    /// a start is refused when what was spent, the reserve of each session still
    /// running and this one's would pass the budget.
    public var startReserve: Int64
    /// The hard cap as a percentage of the budget (`OUTLINE_BUDGET_HARD_CAP_PERCENT`, 100–1000).
    public var hardCapPercent: Int

    public init(perUser: Int64? = 100_000_000, perWorkflow: Int64? = 40_000_000, period: Period = .day, startReserve: Int64 = 3_000_000,
                hardCapPercent: Int = 120) {
        self.perUser = perUser
        self.perWorkflow = perWorkflow
        self.period = period
        self.startReserve = startReserve
        self.hardCapPercent = hardCapPercent
    }

    /// `budget`'s hard cap.
    func hardCap(of budget: Int64) -> Int64 {
        let (product, overflow) = budget.multipliedReportingOverflow(by: Int64(hardCapPercent))
        return overflow ? .max : product / 100
    }

    /// Dollars as micro-dollars, for amounts read from the environment: a plain
    /// decimal from 0 to 1,000,000 dollars, at most 6 decimals.
    static func microdollars(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 20, !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) else { return nil }
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0].isEmpty ? "0" : String(parts[0])), whole <= 1_000_000 else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            guard parts[1].count <= 6, let digits = Int64(parts[1].isEmpty ? "0" : String(parts[1])) else { return nil }
            fraction = digits * Int64(pow(10, Double(6 - parts[1].count)))
        }
        return whole * 1_000_000 + fraction
    }

    /// Micro-dollars as dollars, for bodies and pages.
    static func dollars(_ microdollars: Int64) -> Double { Double(microdollars) / 1_000_000 }
}
