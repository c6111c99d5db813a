import Foundation
import HTTPTypes
import Metrics

/// A start refused because it would take a spending budget past its amount:
/// 429 naming the budget, what was spent, the amount, and when it resets (also
/// as `Retry-After`). Nothing was written and the provider was not called.
struct BudgetExceeded: Error {
    /// `user` or `workflow`.
    var budget: String
    var period: SpendingBudgets.Period
    var spent: Int64
    var amount: Int64
    var reserve: Int64
    var activeSessions: Int
    var resetsInSeconds: Int
    /// The period's end: when what was spent counts no more.
    var resetsAt: Date

    var apiError: APIError {
        Counter(label: "outline_budget_refusals_total", dimensions: [("budget", budget)]).increment()
        let whose = budget == "user" ? "Your" : "This workflow's"
        let running = activeSessions > 0 ? " and \(activeSessions) running session(s) set aside \(SpendingLedger.money(reserve)) each" : ""
        return APIError(.tooManyRequests, code: "budget_exceeded",
                        message: "\(whose) research budget of \(SpendingLedger.money(amount)) per \(period.rawValue) would be exceeded: "
                            + "\(SpendingLedger.money(spent)) spent\(running), and a new session sets aside \(SpendingLedger.money(reserve)). "
                            + "It resets at \(ISO8601DateFormatter().string(from: resetsAt)) (in \(resetsInSeconds) s).",
                        fields: ["budget": budget, "period": period.rawValue, "resetsAt": ISO8601DateFormatter().string(from: resetsAt)],
                        numbers: ["retryAfterSeconds": resetsInSeconds, "activeSessions": activeSessions],
                        amounts: ["spentUsd": SpendingBudgets.dollars(spent), "budgetUsd": SpendingBudgets.dollars(amount),
                                  "reserveUsd": SpendingBudgets.dollars(reserve)],
                        headers: [.retryAfter: "\(resetsInSeconds)"])
    }
}
