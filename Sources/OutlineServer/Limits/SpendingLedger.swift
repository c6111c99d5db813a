import EventLog
import Foundation
import Logging
import OutlineProjections
import PostgresClient
import SessionRunner

/// What users and workflows spent in the current budget period, from the read
/// model's `cost_microdollars` (the priced calls the log records), and the two
/// decisions made from it: may this start go ahead (`checkStart`, inside the
/// start's transaction under its user's lock) and must this running session
/// stop (`hardCapReached`, asked by the runner).
struct SpendingLedger: SpendingWatch {
    let pool: PostgresPool
    let budgets: SpendingBudgets
    let logger: Logger

    /// A user's or a workflow's standing in the current period.
    struct Standing: Sendable, Encodable {
        var spentMicrodollars: Int64
        var activeSessions: Int
        /// Seconds from now until the period ends.
        var resetsInSeconds: Int
        var resetsAt: Date
    }

    /// The start of the period, and its end, as SQL over `now()`.
    private var periodStart: String { "date_trunc('\(budgets.period.rawValue)', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'" }
    private var periodEnd: String { "(\(periodStart) + interval '1 \(budgets.period.rawValue)')" }

    /// Throws `BudgetExceeded` when starting one more session would take `user`'s
    /// or `workflow`'s spending past its budget. Run inside the start's transaction,
    /// after `UsageLimitGuard` took the user's lock: two starts cannot both pass.
    func checkStart(user: String, workflow: WorkflowKey, on connection: isolated PostgresConnection) throws {
        guard budgets.perUser != nil || budgets.perWorkflow != nil else { return }
        let row = try connection.query(
            """
            SELECT coalesce(sum(cost_microdollars) FILTER (WHERE requested_by = $1), 0)::int8,
                   count(*) FILTER (WHERE requested_by = $1 AND is_active),
                   coalesce(sum(cost_microdollars) FILTER (WHERE workflow_owner = $2 AND workflow_id = $3), 0)::int8,
                   extract(epoch FROM \(periodEnd) - now())::float8, extract(epoch FROM \(periodEnd))::float8
              FROM outline_session_rows
             WHERE (requested_by = $1 OR (workflow_owner = $2 AND workflow_id = $3)) AND created_at >= \(periodStart)
            """,
            user, workflow.owner, workflow.id
        )[0]
        let userSpent = try row.decode(Int64.self, at: 0), active = Int(try row.decode(Int64.self, at: 1))
        let workflowSpent = try row.decode(Int64.self, at: 2)
        let resets = UsageLimitGuard.wholeSeconds(try row.decode(Double?.self, at: 3), window: 31 * 86_400)
        let resetsAt = Date(timeIntervalSince1970: try row.decode(Double?.self, at: 4) ?? Date().timeIntervalSince1970 + Double(resets))
        let reserve = budgets.startReserve
        if let budget = budgets.perUser {
            let committed = SessionCostTotals.saturating(userSpent, reserve * Int64(active + 1))
            if committed > budget {
                throw BudgetExceeded(budget: "user", period: budgets.period, spent: userSpent, amount: budget, reserve: reserve, activeSessions: active,
                                     resetsInSeconds: resets, resetsAt: resetsAt)
            }
        }
        if let budget = budgets.perWorkflow, SessionCostTotals.saturating(workflowSpent, reserve) > budget {
            throw BudgetExceeded(budget: "workflow", period: budgets.period, spent: workflowSpent, amount: budget, reserve: reserve, activeSessions: 0,
                                 resetsInSeconds: resets, resetsAt: resetsAt)
        }
    }

    /// What `user` (and one of their workflows) spent this period, against the
    /// budgets: what the page shows beside a session's own cost.
    struct Own: Encodable, Sendable {
        struct Scope: Encodable, Sendable { var spentUsd: Double, budgetUsd: Double?, remainingUsd: Double?, sessions: Int64 }
        var period: String
        var resetsAt: Date
        var user: Scope
        var workflowId: String?
        var workflow: Scope?
    }

    func own(user: String, workflow: WorkflowKey?) async throws -> Own {
        let row = try await pool.query(
            """
            SELECT coalesce(sum(cost_microdollars) FILTER (WHERE requested_by = $1), 0)::int8, count(*) FILTER (WHERE requested_by = $1),
                   coalesce(sum(cost_microdollars) FILTER (WHERE workflow_owner = $2 AND workflow_id = $3), 0)::int8,
                   count(*) FILTER (WHERE workflow_owner = $2 AND workflow_id = $3),
                   (SELECT extract(epoch FROM \(periodEnd))::float8)
              FROM outline_session_rows
             WHERE (requested_by = $1 OR (workflow_owner = $2 AND workflow_id = $3)) AND created_at >= \(periodStart)
            """,
            user, workflow?.owner ?? user, workflow?.id ?? ""
        )[0]
        func scope(_ spent: Int64, _ sessions: Int64, _ budget: Int64?) -> Own.Scope {
            Own.Scope(spentUsd: SpendingBudgets.dollars(spent), budgetUsd: budget.map(SpendingBudgets.dollars),
                      remainingUsd: budget.map { SpendingBudgets.dollars(max($0 - spent, 0)) }, sessions: sessions)
        }
        let workflowSpent = try row.decode(Int64.self, at: 2), workflowSessions = try row.decode(Int64.self, at: 3)
        return Own(period: budgets.period.rawValue, resetsAt: Date(timeIntervalSince1970: try row.decode(Double.self, at: 4)),
                   user: scope(try row.decode(Int64.self, at: 0), try row.decode(Int64.self, at: 1), budgets.perUser),
                   workflowId: workflow?.id, workflow: workflow.map { _ in scope(workflowSpent, workflowSessions, budgets.perWorkflow) })
    }

    /// Past the hard cap when what the period's sessions cost, plus what this
    /// one's run has used so far (estimated), is more than the budget's hard cap.
    func hardCapReached(session: UUID, runningCost: ProviderCost) async -> String? {
        guard budgets.perUser != nil || budgets.perWorkflow != nil else { return nil }
        do {
            let rows = try await pool.query(
                """
                SELECT s.requested_by, s.workflow_id,
                       (SELECT coalesce(sum(cost_microdollars), 0)::int8 FROM outline_session_rows
                         WHERE requested_by = s.requested_by AND created_at >= \(periodStart)),
                       (SELECT coalesce(sum(cost_microdollars), 0)::int8 FROM outline_session_rows
                         WHERE workflow_owner = s.workflow_owner AND workflow_id = s.workflow_id AND created_at >= \(periodStart))
                  FROM outline_session_rows s WHERE s.id = $1
                """,
                session
            )
            guard let row = rows.first else { return nil }
            let user = try row.decode(String.self, at: 0), workflow = try row.decode(String.self, at: 1)
            let userTotal = SessionCostTotals.saturating(try row.decode(Int64.self, at: 2), runningCost.microdollars)
            let workflowTotal = SessionCostTotals.saturating(try row.decode(Int64.self, at: 3), runningCost.microdollars)
            if let budget = budgets.perUser, userTotal > budgets.hardCap(of: budget) {
                return Self.reason("\(user)'s", period: budgets.period, total: userTotal, budget: budget, cap: budgets.hardCap(of: budget), running: runningCost)
            }
            if let budget = budgets.perWorkflow, workflowTotal > budgets.hardCap(of: budget) {
                return Self.reason("workflow \(workflow)'s", period: budgets.period, total: workflowTotal, budget: budget, cap: budgets.hardCap(of: budget), running: runningCost)
            }
            return nil
        } catch {
            // Unknown is not over: the next check asks again.
            logger.warning("could not read spending for a hard-cap check", metadata: ["session": "\(session)", "error": "\(error)"])
            return nil
        }
    }

    static func reason(_ whose: String, period: SpendingBudgets.Period, total: Int64, budget: Int64, cap: Int64, running: ProviderCost) -> String {
        "Stopped at the hard spending cap: \(whose) research this \(period.rawValue) reached \(Self.money(total)) (this run about \(Self.money(running.microdollars)) so far), "
            + "past the cap of \(Self.money(cap)) (\(Self.money(budget)) budget)."
    }

    static func money(_ microdollars: Int64) -> String { String(format: "$%.2f", SpendingBudgets.dollars(microdollars)) }
}

extension SessionCostTotals {
    /// `a + b` without trapping.
    static func saturating(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }
}
