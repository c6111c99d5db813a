import EventLog
import Foundation
import OutlineProjections
import Testing
import TestSupport

/// The operators' diagnostics report over a real server and database.
@Suite("Admin diagnostics")
struct DiagnosticsTests {
    @Test("the report lists active sessions with their lease, failures and resumes by kind from the log, rates per mode, health; the HTML shell carries no data")
    func report() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 3000, pace: .milliseconds(10))) { h in
            let alice = try await h.token("alice")
            let admin = try await h.token("ops", role: .admin)
            let (running, _) = try await h.startStreaming("wf-diag-run", token: alice)
            // A finished failure and an interruption, as the runner would have logged them.
            let sessions = OutlineSessions(store: h.app.store)
            let failed = try await sessions.start(SessionStarted(workflowId: "wf-diag-fail", prompt: "p", mode: .streaming, requestedBy: "alice", skipClarification: true)).sessionID
            try await h.app.store.append(StreamAppend(sessionID: failed, expectedSequence: 1, events: [
                NewEvent(.resumed(SessionResumed(fromProviderSequence: 12, reason: "stream interrupted"))),
                NewEvent(.failed(SessionFailed(code: "provider_error", message: "provider answered HTTP 500", retryable: false))),
            ]))
            // The lease is taken as the run starts; the event counts come from the asynchronous session_activity projection.
            let row = try await Deadline.value(of: "the running session in the report with its lease and events", within: .seconds(60), every: .milliseconds(50)) { () -> [String: Any]? in
                let active = try await h.call("GET", "/admin/outline-generation-diagnostics", token: admin).json?["activeSessions"] as? [[String: Any]] ?? []
                return active.first { $0["sessionId"] as? String == running && $0["leaseOwner"] != nil && ($0["events"] as? Int ?? 0) > 0 }
            }
            #expect(row["leaseOwner"] as? String == h.app.configuration.instanceName)
            #expect((row["events"] as? Int ?? 0) > 0)
            let report = try #require(try await h.call("GET", "/admin/outline-generation-diagnostics", token: admin).json)
            let problems = try #require(report["providerErrors"] as? [[String: Any]])
            #expect(problems.contains { $0["code"] as? String == "failed:provider_error" && $0["count"] as? Int == 1 })
            #expect(problems.contains { $0["code"] as? String == "resumed:stream interrupted" })
            let failures = try #require(report["recentFailures"] as? [[String: Any]])
            #expect(failures.first?["sessionId"] as? String == failed.uuidString.lowercased())
            #expect((report["modes"] as? [[String: Any]])?.contains { $0["mode"] as? String == "streaming" } == true)
            #expect((report["health"] as? [String: Any])?["healthy"] as? Bool == true)
            #expect(report["projectionLag"] as? Int == 0)
            let projections = try #require(report["projections"] as? [[String: Any]])
            #expect(projections.first?["name"] as? String == "session_activity")
            #expect(projections.first?["version"] as? Int == 1)
            // Users cannot read it; a browser without a token gets the shell only.
            #expect(try await h.call("GET", "/admin/outline-generation-diagnostics", token: alice).status == 403)
            #expect(try await h.call("GET", "/admin/outline-generation-diagnostics").status == 401)
            let shell = try await h.call("GET", "/admin/outline-generation-diagnostics", headers: [("Accept", "text/html")])
            #expect(shell.status == 200)
            #expect(shell.head.header("content-type")?.hasPrefix("text/html") == true)
            #expect(!shell.text.contains("wf-diag"))
            _ = try await h.waitUntilEnded("wf-diag-run", session: running, token: alice)
        }
    }
}
