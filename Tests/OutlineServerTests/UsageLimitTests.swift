import Foundation
import OutlineServer
import SimulatedProvider
import Testing
import TestSupport

/// Spending is bounded: past a user's limit, start and start-v2 answer 429
/// naming the limit, the count and when it frees, and nothing reaches the
/// provider. The database enforces it, so two instances agree. Runs hold at
/// the simulated provider until released, so "active" stays active.
@Suite("Usage limits: 429 that names the limit, nothing reaches the provider")
struct UsageLimitTests {
    static func limited(_ limits: UsageLimits) -> (inout ServiceConfiguration) -> Void {
        { $0.limits = limits }
    }

    @Test("active sessions, starts per hour and new workflows per hour are refused past their limit, with Retry-After")
    func limitsRefuse() async throws {
        let limits = UsageLimits(activeSessionsPerUser: 2, startsPerUserPerHour: 3, startsPerUserPerDay: 100, newWorkflowsPerUserPerHour: 4, openStreamsPerUser: 2)
        try await ServiceHarness.with(faults: [.holdAt(events: 5)], configure: Self.limited(limits)) { h in
            let alice = try await h.token("alice")
            let (first, streamToken) = try await h.startStreaming("wf-l1", token: alice)
            let (second, _) = try await h.startStreaming("wf-l2", token: alice)
            try await Deadline.wait(for: "alice's two research calls", within: .seconds(30)) { await h.provider.state.researchCreateCount == 2 }
            let creates = 2
            // A third active session: refused, before any event or provider call.
            for route in ["/start", "/start-v2"] {
                let refused = try await h.call("POST", ServiceHarness.base("wf-l3") + route, token: alice, json: ["prompt": "More tides", "skipClarification": true])
                #expect(refused.status == 429, "\(route): \(refused.text)")
                #expect(refused.errorCode == "limit_exceeded")
                let error = try #require(refused.json?["error"] as? [String: Any])
                #expect(error["limit"] as? String == "active_sessions")
                #expect(error["current"] as? Int == 2)
                #expect(error["maximum"] as? Int == 2)
                #expect(refused.head.header("retry-after").flatMap(Int.init) ?? 0 >= 1)
            }
            #expect(try await h.call("GET", ServiceHarness.base("wf-l3") + "/latest", token: alice).status == 404)
            #expect(await h.provider.state.researchCreateCount == creates)
            // The one-active rule still answers first for a running workflow: 409 with the session, not 429.
            let again = try await h.call("POST", ServiceHarness.base("wf-l1") + "/start", token: alice, json: ["prompt": "again", "skipClarification": true])
            #expect(again.status == 409)
            #expect((again.json?["error"] as? [String: Any])?["activeSessionId"] as? String == first)
            // Another user is not affected.
            let bob = try await h.token("bob")
            _ = try await h.startStreaming("wf-bob-1", token: bob)
            try await Deadline.wait(for: "bob's research call", within: .seconds(30)) { await h.provider.state.researchCreateCount == creates + 1 }

            // Open streams: two per user; the third is refused while two are open.
            let base = ServiceHarness.base("wf-l1")
            let url = h.url + "\(base)/stream?sessionId=\(first)&token=\(streamToken)"
            let holders = (0..<2).map { _ in Task { try await SSEClient().connect(url) } }
            try await Deadline.wait(for: "two open streams", within: .seconds(90)) {
                (try await h.call("GET", "/admin/outline-generation-diagnostics", token: try await h.token("ops", role: .admin)).json?["sseClients"] as? Int ?? 0) >= 2
            }
            let third = try await h.call("GET", "\(base)/stream?sessionId=\(first)&token=\(streamToken)")
            #expect(third.status == 429)
            #expect((third.json?["error"] as? [String: Any])?["limit"] as? String == "open_streams")
            for holder in holders { holder.cancel() }

            // Let both runs finish; starts per hour (3) then refuses the fourth.
            await h.provider.state.releaseAll()
            _ = try await h.waitUntilEnded("wf-l1", session: first, token: alice)
            _ = try await h.waitUntilEnded("wf-l2", session: second, token: alice)
            let (third3, _) = try await h.startStreaming("wf-l3", token: alice)
            _ = try await h.waitUntilEnded("wf-l3", session: third3, token: alice)
            let fourth = try await h.call("POST", ServiceHarness.base("wf-l4") + "/start", token: alice, json: ["prompt": "p", "skipClarification": true])
            #expect(fourth.status == 429)
            let error = try #require(fourth.json?["error"] as? [String: Any])
            #expect(error["limit"] as? String == "starts_per_hour")
            #expect(error["current"] as? Int == 3)
            let wait = try #require(error["retryAfterSeconds"] as? Int)
            #expect((3000...3600).contains(wait), "the oldest start frees its slot an hour after it: \(wait)")

            // New workflows per hour: alice has made 4 (wf-l1..wf-l4's claim); the fifth is refused.
            let created = try await h.call("POST", "/api/workflows", token: alice, json: ["workflowId": "wf-l5"])
            #expect(created.status == 429, "\(created.text)")
            #expect((created.json?["error"] as? [String: Any])?["limit"] as? String == "new_workflows_per_hour")

            // Limits and usage on the admin page's report and in /metrics.
            let report = try await h.call("GET", "/admin/outline-generation-diagnostics", token: try await h.token("ops", role: .admin))
            let usage = try #require(report.json?["usage"] as? [String: Any])
            let rows = try #require(usage["users"] as? [[String: Any]])
            #expect(rows.first { $0["user"] as? String == "alice" }?["startsLastHour"] as? Int == 3)
            let limits = try #require(usage["limits"] as? [[String: Any]])
            #expect(limits.first { $0["name"] as? String == "active_sessions" }?["maximum"] as? Int == 2, "\(limits)")
            // The gauges are per process: in this test process other servers, with other
            // limits, record theirs too, so /metrics is checked for the series, not this value.
            let metrics = try await h.call("GET", "/metrics").text
            #expect(metrics.contains("outline_limit{limit=\"active_sessions\"}"))
            #expect(metrics.contains("outline_limit_refusals_total{limit=\"active_sessions\"}"))
        }
    }

    @Test("30 concurrent starts by one user across two instances: exactly the limit succeeds, and exactly that many research calls")
    func concurrentStartsAcrossInstances() async throws {
        let limits = UsageLimits(activeSessionsPerUser: 3, startsPerUserPerHour: 1000, startsPerUserPerDay: 1000, newWorkflowsPerUserPerHour: 1000, openStreamsPerUser: 10)
        try await ServiceHarness.with(faults: [.holdAt(events: 5)], configure: Self.limited(limits)) { a in
            var second = ServiceHarness.configuration(provider: a.provider)
            second.limits = limits
            try await ServiceHarness.serve(pool: a.pool, provider: a.provider, configuration: second) { b in
                let token = try await a.token("carol")
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<30 {
                        let harness = index % 2 == 0 ? a : b
                        group.addTask {
                            try await harness.call("POST", ServiceHarness.base("wf-c\(index)") + "/start", token: token,
                                                   json: ["prompt": "p", "skipClarification": true]).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == 201 }.count == 3, "\(statuses)")
                #expect(statuses.filter { $0 == 429 }.count == 27, "\(statuses)")
                // Each runner streams up to the provider's hold: past that point no runner has
                // a create left to make, so the count below is final (no waiting for nothing).
                try await Deadline.wait(for: "three research runs streamed up to the provider's hold", within: .seconds(60)) {
                    var held = 0
                    for id in await a.provider.state.responsesBySession.values.joined() where await a.provider.state.streamReachedHold(responseID: id) { held += 1 }
                    return held >= 3
                }
                #expect(await a.provider.state.researchCreateCount == 3)
                await a.provider.state.releaseAll()
            }
        }
    }
}
