import Foundation
import OutlineServer
import SimulatedProvider
import Testing
import TestSupport

/// The rollback that triggers itself. The simulated provider fails every
/// streamed run and completes every polled one; the service's own check (every
/// 200 ms here) sees streaming fail 100 points above polling and turns
/// USE_STREAMING off, once, saying why. The outcome is waited for, never raced:
/// the flip is a state the test polls for, and the "no second flip" checks call
/// the judgement directly.
@Suite("Automatic rollback: streaming turns itself off when it fails more than polling")
struct AutomaticRollbackTests {
    @Test("induced streaming failures flip the flag once, recorded as the system's with the figures; V2 keeps working; an operator turns it back on")
    func flipsOnce() async throws {
        try await ServiceHarness.with(faults: [.failStreamed], configure: {
            $0.rollback = AutomaticRollback.Settings()
            $0.rollback.minimumSessions = 4
            $0.rollback.interval = .milliseconds(200)
            $0.runner.pollInterval = .milliseconds(50)
        }) { h in
            let alice = try await h.token("alice"), ops = try await h.token("ops", role: .admin)
            // Polling works: four V2 sessions complete.
            for index in 0..<4 {
                let reply = try await h.call("POST", ServiceHarness.base("wf-v2-\(index)") + "/start-v2", token: alice, json: ["prompt": "p", "skipClarification": true])
                let session = try #require(reply.json?["sessionId"] as? String)
                #expect(try await h.waitUntilEnded("wf-v2-\(index)", session: session, token: alice)["status"] as? String == "completed")
            }
            // Streaming fails: four V3 sessions fail.
            for index in 0..<4 {
                let (session, _) = try await h.startStreaming("wf-v3-\(index)", token: alice)
                #expect(try await h.waitUntilEnded("wf-v3-\(index)", session: session, token: alice)["status"] as? String == "failed")
            }
            try await Deadline.wait(for: "the automatic rollback to turn streaming off", within: .seconds(60)) {
                (try await h.call("GET", "/admin/flags", token: ops).json?["flags"] as? [String: Any])?["useStreaming"] as? Bool == false
            }
            let flags = try await h.call("GET", "/admin/flags", token: ops).json
            let history = try #require(flags?["history"] as? [[String: Any]])
            let automatic = history.filter { $0["changedBy"] as? String == AutomaticRollback.changedBy }
            #expect(automatic.count == 1, "\(history)")
            let reason = try #require(automatic.first?["reason"] as? String)
            #expect(reason.contains("streaming failed 4 of 4 sessions (100.0%)") && reason.contains("polling 0 of 4 (0.0%, window)")
                    && reason.contains("past the 5.0-point threshold"), "\(reason)")
            #expect(automatic.first?["newValue"] as? String == "false")
            // Judging again (this instance or another) changes nothing: streaming is off, and
            // its window starts again at the change, so the same failures are not counted twice.
            let again = try await h.app.rollback.checkOnce()
            #expect(!again.flipped && again.verdict.streamingSessions == 0)
            // The page and /metrics say so.
            let report = try await h.call("GET", "/admin/outline-generation-diagnostics", token: ops).json
            let last = (report?["rollback"] as? [String: Any])?["lastAutomatic"] as? [String: Any]
            #expect(last?["changedBy"] as? String == AutomaticRollback.changedBy && last?["reason"] as? String == reason)
            let metrics = try await h.call("GET", "/metrics").text
            #expect(metrics.contains("outline_streaming_auto_rollbacks_total") && metrics.contains("outline_failure_rate_gap_points"))
            // The other triggers, as figures against thresholds: time to first content was measured for the streamed runs.
            let triggers = try #require(report?["triggers"] as? [[String: Any]])
            let ttfc = try #require(triggers.first { $0["signal"] as? String == "time_to_first_content_p95" })
            #expect(ttfc["threshold"] as? Double == 30 && (ttfc["samples"] as? Int ?? 0) >= 1)
            #expect(Set(triggers.compactMap { $0["signal"] as? String }).isSuperset(of: ["missing_content_per_hour", "constraint_errors_per_hour",
                                                                                        "active_session_refusals_per_hour", "append_p99", "delivery_p99"]))
            #expect(metrics.contains("outline_trigger_threshold{signal=\"time_to_first_content_p95\"} 30"))
            // V3 is refused, naming V2; V2 still works.
            let refused = try await h.call("POST", ServiceHarness.base("wf-after") + "/start", token: alice, json: ["prompt": "p", "skipClarification": true])
            #expect(refused.status == 409 && refused.errorCode == "streaming_disabled", "\(refused.text)")
            let v2 = try await h.call("POST", ServiceHarness.base("wf-after") + "/start-v2", token: alice, json: ["prompt": "p", "skipClarification": true])
            let session = try #require(v2.json?["sessionId"] as? String)
            #expect(try await h.waitUntilEnded("wf-after", session: session, token: alice)["status"] as? String == "completed")
            // An operator turns streaming back on: the failures before that no longer count.
            let on = try await h.call("PUT", "/admin/flags", token: ops, json: ["useStreaming": true, "reason": "provider fixed"])
            #expect(on.status == 200, "\(on.text)")
            let afterwards = try await h.app.rollback.checkOnce()
            #expect(!afterwards.verdict.judged && afterwards.verdict.streamingSessions == 0 && !afterwards.flipped)
            #expect((try await h.call("GET", "/admin/flags", token: ops).json?["flags"] as? [String: Any])?["useStreaming"] as? Bool == true)
        }
    }

    @Test("below the minimum number of sessions, or within the threshold, nothing flips")
    func withinLimits() async throws {
        try await ServiceHarness.with(configure: { $0.rollback.minimumSessions = 3 }) { h in
            let alice = try await h.token("alice")
            for index in 0..<3 {
                let (session, _) = try await h.startStreaming("wf-ok-\(index)", token: alice)
                _ = try await h.waitUntilEnded("wf-ok-\(index)", session: session, token: alice)
            }
            let verdict = try await h.app.rollback.checkOnce()
            #expect(verdict.verdict.judged && !verdict.verdict.tripped && !verdict.flipped && verdict.verdict.pollingBaseline == "none")
            #expect(verdict.verdict.streamingSessions == 3 && verdict.verdict.streamingFailed == 0)
        }
    }
}
