import EventLog
import Foundation
import OutlineServer
import SimulatedProvider
import Testing
import TestSupport

/// Money is bounded: what each session cost is on its terminal event and in the
/// read model; a start that would pass a budget is refused with 429 before the
/// provider is called; a running session that passes the hard cap is cancelled
/// at the provider and says why. The simulated provider's progress is held and
/// released by the test, and spending is checked at every event, so nothing
/// here races a clock.
@Suite("Cost and budgets: priced sessions, 429 before the provider, the hard cap stops a run")
struct CostAndBudgetTests {
    static func budgets(_ budgets: SpendingBudgets) -> (inout ServiceConfiguration) -> Void {
        {
            $0.budgets = budgets
            $0.runner.spendingCheckInterval = .zero
        }
    }

    @Test("a finished session's cost is on its status and its terminal event: the fast model's calls plus the research")
    func costOnStatus() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let (session, _) = try await h.startStreaming("wf-cost", token: alice)
            let row = try await h.waitUntilEnded("wf-cost", session: session, token: alice)
            #expect(row["status"] as? String == "completed")
            let log = try await h.log(session)
            let research = try #require(log.last?.event.cost)
            let instructions = try #require(log.compactMap { if case .researchInstructionsWritten(let w) = $0.event { w.cost } else { nil } }.first)
            #expect(!research.estimated && instructions.model == "gpt-4.1-mini")
            #expect(row["costMicrodollars"] as? Int == Int(research.microdollars + instructions.microdollars))
            let totals = try #require(row["cost"] as? [String: Any])
            #expect(totals["models"] as? [String] == ["gpt-4.1-mini", "o3-deep-research"])
            #expect(totals["webSearchCalls"] as? Int == 4)
            let dollars = Double(row["costMicrodollars"] as? Int ?? 0) / 1_000_000

            // The admin page: this period's spending by user and by workflow, against the budgets.
            let report = try await h.call("GET", "/admin/outline-generation-diagnostics", token: try await h.token("ops", role: .admin))
            let spending = try #require(report.json?["spending"] as? [String: Any])
            #expect(spending["spentUsd"] as? Double == dollars && spending["period"] as? String == "day")
            let users = try #require(spending["users"] as? [[String: Any]])
            #expect(users.first?["user"] as? String == "alice" && users.first?["spentUsd"] as? Double == dollars)
            let workflows = try #require(spending["workflows"] as? [[String: Any]])
            #expect(workflows.first?["workflowId"] as? String == "wf-cost" && workflows.first?["sessions"] as? Int == 1)
            #expect((spending["lastDay"] as? [String: Any])?["maxUsd"] as? Double == dollars)
            // /metrics: the same figures as gauges.
            let metrics = try await h.call("GET", "/metrics").text
            #expect(metrics.contains("outline_user_spend_usd{user=\"alice\"} \(dollars)"), "\(metrics.split(separator: "\n").filter { $0.contains("spend") })")
            #expect(metrics.contains("outline_workflow_spend_usd{owner=\"alice\",workflow=\"wf-cost\"} \(dollars)"))
            #expect(metrics.contains("outline_session_cost_usd{stat=\"max\"} \(dollars)"))
            // The writer's own view (what the page shows beside the session's cost).
            let own = try await h.call("GET", "/api/spending?workflowId=wf-cost", token: alice).json
            #expect((own?["user"] as? [String: Any])?["spentUsd"] as? Double == dollars && (own?["workflow"] as? [String: Any])?["sessions"] as? Int == 1)
            #expect(((try await h.call("GET", "/api/spending", token: try await h.token("bob")).json?["user"] as? [String: Any])?["spentUsd"] as? Double) == 0)
            #expect(try await h.call("GET", "/api/spending?workflowId=%00bad", token: alice).status == 400)
        }
    }

    @Test("a start that would pass the user's budget answers 429 naming it, what was spent and when it resets; nothing reaches the provider")
    func startRefused() async throws {
        // $10 a day, $6 set aside per start: one running session fits, a second does not.
        let budgets = SpendingBudgets(perUser: 10_000_000, perWorkflow: nil, period: .day, startReserve: 6_000_000, hardCapPercent: 1000)
        try await ServiceHarness.with(faults: [.holdAt(events: 5)], configure: Self.budgets(budgets)) { h in
            let alice = try await h.token("alice")
            let (first, _) = try await h.startStreaming("wf-b1", token: alice)
            try await Deadline.wait(for: "the first research call", within: .seconds(30)) { await h.provider.state.researchCreateCount == 1 }
            for route in ["/start", "/start-v2"] {
                let refused = try await h.call("POST", ServiceHarness.base("wf-b2") + route, token: alice, json: ["prompt": "More tides", "skipClarification": true])
                #expect(refused.status == 429, "\(route): \(refused.text)")
                #expect(refused.errorCode == "budget_exceeded")
                let error = try #require(refused.json?["error"] as? [String: Any])
                #expect(error["budget"] as? String == "user" && error["period"] as? String == "day")
                #expect(error["budgetUsd"] as? Double == 10 && error["reserveUsd"] as? Double == 6)
                #expect(error["activeSessions"] as? Int == 1)
                #expect((error["spentUsd"] as? Double ?? -1) >= 0)
                let resets = try #require(error["retryAfterSeconds"] as? Int)
                #expect((1...86_400).contains(resets))
                #expect(refused.head.header("retry-after") == "\(resets)")
                #expect((error["resetsAt"] as? String)?.hasSuffix("T00:00:00Z") == true, "a day budget resets at midnight UTC: \(error)")
                #expect((error["message"] as? String)?.contains("$10.00 per day") == true)
            }
            #expect(try await h.call("GET", ServiceHarness.base("wf-b2") + "/latest", token: alice).status == 404, "a refused start leaves nothing")
            #expect(await h.provider.state.researchCreateCount == 1)
            // Another user has a budget of their own.
            _ = try await h.startStreaming("wf-bob", token: try await h.token("bob"))
            await h.provider.state.releaseAll()
            _ = try await h.waitUntilEnded("wf-b1", session: first, token: alice)
        }
    }

    @Test("a workflow's budget refuses its next start once what it spent passes it")
    func workflowBudget() async throws {
        let budgets = SpendingBudgets(perUser: nil, perWorkflow: 100_000, period: .month, startReserve: 0, hardCapPercent: 1000)
        try await ServiceHarness.with(configure: Self.budgets(budgets)) { h in
            let alice = try await h.token("alice")
            let (first, _) = try await h.startStreaming("wf-w", token: alice)
            let row = try await h.waitUntilEnded("wf-w", session: first, token: alice)
            #expect((row["costMicrodollars"] as? Int ?? 0) > 100_000, "a simulated run costs more than $0.10: \(row["costMicrodollars"] ?? "none")")
            let refused = try await h.call("POST", ServiceHarness.base("wf-w") + "/start", token: alice, json: ["prompt": "again", "skipClarification": true])
            #expect(refused.status == 429 && refused.errorCode == "budget_exceeded", "\(refused.text)")
            let error = try #require(refused.json?["error"] as? [String: Any])
            #expect(error["budget"] as? String == "workflow" && error["period"] as? String == "month")
            #expect(error["spentUsd"] as? Double == Double(row["costMicrodollars"] as? Int ?? 0) / 1_000_000)
            #expect((error["resetsAt"] as? String)?.hasSuffix("-01T00:00:00Z") == true)
            // The user's other workflows are not this one's budget.
            _ = try await h.startStreaming("wf-other", token: alice)
            try await Deadline.wait(for: "the other workflow's research call", within: .seconds(30)) { await h.provider.state.researchCreateCount == 2 }
        }
    }

    @Test("a running session that passes the hard cap is cancelled at the provider and says why")
    func hardCapStopsRun() async throws {
        // $0.30 a day and no margin: the run's estimate passes it at its third search.
        let budgets = SpendingBudgets(perUser: 300_000, perWorkflow: nil, period: .day, startReserve: 0, hardCapPercent: 100)
        try await ServiceHarness.with(spec: TranscriptSpec(webSearches: 8, reasoningSummaries: 2, outputLength: 600, pace: .milliseconds(2)),
                                      configure: Self.budgets(budgets)) { h in
            let alice = try await h.token("alice")
            let (session, _) = try await h.startStreaming("wf-cap", token: alice)
            let row = try await h.waitUntilEnded("wf-cap", session: session, token: alice)
            #expect(row["status"] as? String == "cancelled", "\(row["status"] ?? "none")")
            let log = try await h.log(session)
            guard case .cancelled(let cancelled) = log.last?.event else { Issue.record("not cancelled: \(log.last?.event.eventType ?? "")"); return }
            #expect(cancelled.cancelledBy == "budget")
            #expect(cancelled.reason?.contains("hard spending cap") == true && cancelled.reason?.contains("$0.30") == true, "\(cancelled.reason ?? "")")
            let cost = try #require(cancelled.cost)
            #expect(cost.estimated && cost.webSearchCalls >= 3 && cost.webSearchCalls < 8)
            let responseID = try #require(row["backgroundResponseId"] as? String)
            #expect(await h.provider.state.cancelRequests(forResponse: responseID) >= 1, "cancelled at the provider")
            #expect(await h.provider.state.researchCreateCount == 1)
            // Over budget now: the next start is refused before the provider.
            let refused = try await h.call("POST", ServiceHarness.base("wf-cap2") + "/start", token: alice, json: ["prompt": "p", "skipClarification": true])
            #expect(refused.status == 429 && refused.errorCode == "budget_exceeded")
            #expect(await h.provider.state.researchCreateCount == 1)
        }
    }

    @Test("budget settings are range-checked at start-up, with the variable's name")
    func configuration() throws {
        let secret = ["OUTLINE_TOKEN_SECRET": String(repeating: "s", count: 40)]
        let parsed = try ServiceConfiguration.fromEnvironment(secret.merging([
            "OUTLINE_BUDGET_USER_USD": "12.5", "OUTLINE_BUDGET_WORKFLOW_USD": "none", "OUTLINE_BUDGET_PERIOD": "week",
            "OUTLINE_BUDGET_START_RESERVE_USD": "0.75", "OUTLINE_BUDGET_HARD_CAP_PERCENT": "150",
        ]) { $1 })
        #expect(parsed.budgets == SpendingBudgets(perUser: 12_500_000, perWorkflow: nil, period: .week, startReserve: 750_000, hardCapPercent: 150))
        for (name, value) in [("OUTLINE_BUDGET_USER_USD", "-1"), ("OUTLINE_BUDGET_USER_USD", "1e9"), ("OUTLINE_BUDGET_USER_USD", "nan"),
                              ("OUTLINE_BUDGET_USER_USD", "0.0000001"), ("OUTLINE_BUDGET_WORKFLOW_USD", "99999999"), ("OUTLINE_BUDGET_PERIOD", "fortnight"),
                              ("OUTLINE_BUDGET_START_RESERVE_USD", "none"), ("OUTLINE_BUDGET_HARD_CAP_PERCENT", "50"),
                              ("OUTLINE_PRICES", "{\"date\": \"2026-01-01\", \"models\": {\"x\": {\"input\": -2, \"cachedInput\": 0, \"output\": 0, \"webSearchPer1000\": 0}}}")] {
            do {
                _ = try ServiceConfiguration.fromEnvironment(secret.merging([name: value]) { $1 })
                Issue.record("\(name)=\(value) was accepted")
            } catch {
                #expect("\(error)".hasPrefix(name), "\(name)=\(value): \(error)")
            }
        }
    }
}
