import Foundation
import Metrics
import PostgresClient
import Synchronization

/// What was spent on research in the current budget period, for the
/// diagnostics page and `/metrics`: the total, the budgets, the 20 users and
/// the 20 workflows that spent most (against their budget), and what single
/// sessions cost over the last day. Read from the read model at request time,
/// so every instance shows the same figures.
struct SpendingReport: Encodable, Sendable {
    struct User: Encodable, Sendable { var user: String, spentUsd: Double, sessions: Int64, activeSessions: Int64, budgetUsd: Double?, remainingUsd: Double? }
    struct Workflow: Encodable, Sendable { var owner: String, workflowId: String, spentUsd: Double, sessions: Int64, budgetUsd: Double?, remainingUsd: Double? }
    struct SessionCosts: Encodable, Sendable { var sessions: Int64, totalUsd: Double, medianUsd: Double, p95Usd: Double, maxUsd: Double, estimated: Int64 }
    var period: String
    var periodStart: Date
    var resetsAt: Date
    var userBudgetUsd: Double?
    var workflowBudgetUsd: Double?
    var hardCapPercent: Int
    var startReserveUsd: Double
    var spentUsd: Double
    var users: [User]
    var workflows: [Workflow]
    /// Sessions that ended in the last 24 hours.
    var lastDay: SessionCosts

    static func read(_ pool: PostgresPool, budgets: SpendingBudgets) async throws -> SpendingReport {
        let start = "date_trunc('\(budgets.period.rawValue)', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        let window = try await pool.query("SELECT extract(epoch FROM \(start))::float8, extract(epoch FROM \(start) + interval '1 \(budgets.period.rawValue)')::float8")[0]
        let periodStart = Date(timeIntervalSince1970: try window.decode(Double.self, at: 0))
        let resetsAt = Date(timeIntervalSince1970: try window.decode(Double.self, at: 1))
        let dollars = SpendingBudgets.dollars
        func remaining(_ budget: Int64?, _ spent: Int64) -> Double? { budget.map { dollars(max($0 - spent, 0)) } }
        let total = try await pool.query("SELECT coalesce(sum(cost_microdollars), 0)::int8 FROM outline_session_rows WHERE created_at >= \(start)")[0].decode(Int64.self, at: 0)
        let users = try await pool.query(
            """
            SELECT requested_by, sum(cost_microdollars)::int8, count(*), count(*) FILTER (WHERE is_active)
              FROM outline_session_rows WHERE created_at >= \(start) GROUP BY requested_by ORDER BY 2 DESC, 1 LIMIT 20
            """
        ).map { row in
            let spent = try row.decode(Int64.self, at: 1)
            return User(user: try row.decode(String.self, at: 0), spentUsd: dollars(spent), sessions: try row.decode(Int64.self, at: 2),
                        activeSessions: try row.decode(Int64.self, at: 3), budgetUsd: budgets.perUser.map(dollars), remainingUsd: remaining(budgets.perUser, spent))
        }
        let workflows = try await pool.query(
            """
            SELECT workflow_owner, workflow_id, sum(cost_microdollars)::int8, count(*)
              FROM outline_session_rows WHERE created_at >= \(start) GROUP BY workflow_owner, workflow_id ORDER BY 3 DESC, 1, 2 LIMIT 20
            """
        ).map { row in
            let spent = try row.decode(Int64.self, at: 2)
            return Workflow(owner: try row.decode(String.self, at: 0), workflowId: try row.decode(String.self, at: 1), spentUsd: dollars(spent),
                            sessions: try row.decode(Int64.self, at: 3), budgetUsd: budgets.perWorkflow.map(dollars), remainingUsd: remaining(budgets.perWorkflow, spent))
        }
        let day = try await pool.query(
            """
            SELECT count(*), coalesce(sum(cost_microdollars), 0)::int8,
                   coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY cost_microdollars), 0)::int8,
                   coalesce(percentile_disc(0.95) WITHIN GROUP (ORDER BY cost_microdollars), 0)::int8,
                   coalesce(max(cost_microdollars), 0)::int8, count(*) FILTER (WHERE (cost->>'estimated')::boolean)
              FROM outline_session_rows WHERE NOT is_active AND completed_at > now() - interval '1 day'
            """
        )[0]
        return SpendingReport(period: budgets.period.rawValue, periodStart: periodStart, resetsAt: resetsAt,
                              userBudgetUsd: budgets.perUser.map(dollars), workflowBudgetUsd: budgets.perWorkflow.map(dollars),
                              hardCapPercent: budgets.hardCapPercent, startReserveUsd: dollars(budgets.startReserve), spentUsd: dollars(total),
                              users: users, workflows: workflows,
                              lastDay: SessionCosts(sessions: try day.decode(Int64.self, at: 0), totalUsd: dollars(try day.decode(Int64.self, at: 1)),
                                                    medianUsd: dollars(try day.decode(Int64.self, at: 2)), p95Usd: dollars(try day.decode(Int64.self, at: 3)),
                                                    maxUsd: dollars(try day.decode(Int64.self, at: 4)), estimated: try day.decode(Int64.self, at: 5)))
    }

    /// The per-user and per-workflow gauges exported last time: a spender who left
    /// the top 20 (or a new period) must not stay on the scrape with an old figure.
    private static let exported = Mutex<Set<[String]>>([])

    /// `outline_spend_usd` (this period, everyone), `outline_budget_usd{budget}`,
    /// `outline_user_spend_usd{user}` and `outline_workflow_spend_usd{owner,workflow}`
    /// for the top spenders, and `outline_session_cost_usd{stat}` over the last day.
    func record() {
        Gauge(label: "outline_spend_usd").record(spentUsd)
        if let userBudgetUsd { Gauge(label: "outline_budget_usd", dimensions: [("budget", "user")]).record(userBudgetUsd) }
        if let workflowBudgetUsd { Gauge(label: "outline_budget_usd", dimensions: [("budget", "workflow")]).record(workflowBudgetUsd) }
        var labels = Set<[String]>()
        for user in users {
            Gauge(label: "outline_user_spend_usd", dimensions: [("user", user.user)]).record(user.spentUsd)
            labels.insert(["user", user.user])
        }
        for workflow in workflows {
            Gauge(label: "outline_workflow_spend_usd", dimensions: [("owner", workflow.owner), ("workflow", workflow.workflowId)]).record(workflow.spentUsd)
            labels.insert(["workflow", workflow.owner, workflow.workflowId])
        }
        let gone = Self.exported.withLock { exported in
            defer { exported = labels }
            return exported.subtracting(labels)
        }
        for label in gone {
            if label[0] == "user" {
                Gauge(label: "outline_user_spend_usd", dimensions: [("user", label[1])]).destroy()
            } else {
                Gauge(label: "outline_workflow_spend_usd", dimensions: [("owner", label[1]), ("workflow", label[2])]).destroy()
            }
        }
        for (stat, value) in [("median", lastDay.medianUsd), ("p95", lastDay.p95Usd), ("max", lastDay.maxUsd), ("total", lastDay.totalUsd)] {
            Gauge(label: "outline_session_cost_usd", dimensions: [("stat", stat)]).record(value)
        }
    }
}
