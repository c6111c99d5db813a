import EventLog
import OutlineProjections
import Foundation
import OpenAIResponses
import SimulatedProvider
import Testing
import TestSupport

/// The session API over real sockets: V2 polling, clarification, cancel,
/// concurrent starts, idempotency, feature flags.
@Suite("Session API: V2 and V3 on one log")
struct SessionAPITests {
    @Test("100 concurrent starts for one workflow make one session and one provider call; the others get 409 with its id")
    func concurrentStarts() async throws {
        // The run holds at the provider until every start has answered: a real run
        // lasts 15 minutes, and a burst of starts must meet it still active, not race
        // a 1-second test transcript to its end.
        try await ServiceHarness.with(faults: [.holdAt(events: 5)]) { h in
            let alice = try await h.token("alice")
            let replies = try await withThrowingTaskGroup(of: ServiceHarness.Reply.self) { group in
                for _ in 0..<100 {
                    group.addTask { try await h.call("POST", ServiceHarness.base("wf-race") + "/start", token: alice, json: ["prompt": "p", "skipClarification": true]) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = replies.filter { $0.status == 201 }
            #expect(created.count == 1)
            let session = try #require(created.first?.json?["sessionId"] as? String)
            let conflicts = replies.filter { $0.status == 409 }
            #expect(conflicts.count == 99)
            #expect(conflicts.allSatisfy { $0.errorCode == "session_active" && (($0.json?["error"] as? [String: Any])?["activeSessionId"] as? String) == session })
            await h.provider.state.releaseAll()
            let row = try await h.waitUntilEnded("wf-race", session: session, token: alice)
            #expect(row["status"] as? String == "completed")
            #expect(await h.provider.state.researchCreateCount == 1)
            #expect(await h.provider.state.researchCreates(forSession: session) == 1)
            let count = try await h.pool.query("SELECT count(*) FROM outline_sessions WHERE workflow_id = 'wf-race'")[0].decode(Int64.self, at: 0)
            #expect(count == 1)
        }
    }

    @Test("V2: start-v2 and polling status reach the same final outline; latest shows it; the idempotency key returns the same session")
    func pollingPath() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let start = try await h.call("POST", ServiceHarness.base("wf-v2") + "/start-v2", token: alice,
                                         json: ["outline_prompt": "Solar in Spain", "skipClarification": true], headers: [("Idempotency-Key", "click-1")])
            #expect(start.status == 201)
            let session = try #require(start.json?["sessionId"] as? String)
            #expect(start.json?["mode"] as? String == "polling")
            #expect(start.json?["streamUrl"] == nil)
            let again = try await h.call("POST", ServiceHarness.base("wf-v2") + "/start-v2", token: alice,
                                         json: ["prompt": "Solar in Spain", "skipClarification": true], headers: [("Idempotency-Key", "click-1")])
            #expect(again.status == 200)
            #expect(again.json?["sessionId"] as? String == session)
            #expect(again.json?["existing"] as? Bool == true)
            let row = try await h.waitUntilEnded("wf-v2", session: session, token: alice)
            #expect(row["status"] as? String == "completed")
            #expect(row["mode"] as? String == "polling")
            #expect((row["pollingAttempts"] as? Int ?? 0) > 0)
            let responseID = try #require(row["backgroundResponseId"] as? String)
            let transcript = try #require(await h.provider.state.transcript(ofResponse: responseID))
            #expect(row["finalOutline"] as? String == transcript.text)
            #expect(await h.provider.state.researchCreates(forSession: session) == 1)
            let latest = try await h.call("GET", ServiceHarness.base("wf-v2") + "/latest", token: alice)
            #expect(latest.json?["id"] as? String == session)
        }
    }

    @Test("clarification: questions arrive, answers of the wrong count are refused, the right ones lead to research and an outline")
    func clarification() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let start = try await h.call("POST", ServiceHarness.base("wf-clarify") + "/start", token: alice, json: ["prompt": "Wind in Denmark"])
            let session = try #require(start.json?["sessionId"] as? String)
            let questions = try await Deadline.value(of: "the clarification questions", within: .seconds(60), every: .milliseconds(25)) { () -> [String]? in
                let row = try await h.call("GET", ServiceHarness.base("wf-clarify") + "/status?sessionId=\(session)", token: alice).json
                guard row?["status"] as? String == "awaiting_clarification" else { return nil }
                return row?["clarificationQuestions"] as? [String] ?? []
            }
            #expect((3...6).contains(questions.count))
            let wrong = try await h.call("POST", ServiceHarness.base("wf-clarify") + "/clarifications", token: alice, json: ["sessionId": session, "answers": ["only one"]])
            #expect(wrong.status == 400)
            #expect((wrong.json?["error"] as? [String: Any])?["field"] as? String == "answers")
            let right = try await h.call("POST", ServiceHarness.base("wf-clarify") + "/clarifications", token: alice,
                                         json: ["sessionId": session, "answers": questions.map { "A: \($0)" }])
            #expect(right.status == 202)
            let twice = try await h.call("POST", ServiceHarness.base("wf-clarify") + "/clarifications", token: alice,
                                         json: ["sessionId": session, "answers": questions.map { "A: \($0)" }])
            #expect(twice.status == 409)
            let row = try await h.waitUntilEnded("wf-clarify", session: session, token: alice)
            #expect(row["status"] as? String == "completed")
            #expect(row["clarificationAnswers"] as? [String] == questions.map { "A: \($0)" })
        }
    }

    @Test("cancel: the session ends cancelled with who cancelled, the provider response is cancelled, the stream ends, cancelling again is a 409")
    func cancel() async throws {
        // The run holds before its 30th event until released: the cancel always
        // reaches a run still going at the provider, however loaded the machine.
        try await ServiceHarness.with(spec: .init(outputLength: 6000, pace: .milliseconds(2)), faults: [.holdAt(events: 30)]) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-cancel", token: alice)
            try await Deadline.wait(for: "the response id in the status", within: .seconds(60)) {
                try await h.call("GET", ServiceHarness.base("wf-cancel") + "/status?sessionId=\(session)", token: alice).json?["backgroundResponseId"] is String
            }
            let cancel = try await h.call("POST", ServiceHarness.base("wf-cancel") + "/cancel", token: alice, json: ["reason": "wrong topic"])
            #expect(cancel.status == 200)
            #expect(cancel.json?["status"] as? String == "cancelled")
            #expect(cancel.json?["isActive"] as? Bool == false)
            let stream = try await SSEClient().connect(h.url + ServiceHarness.base("wf-cancel") + "/stream?sessionId=\(session)&token=\(streamToken)&from=0")
            #expect(stream.events.last?.event == "session.cancelled")
            #expect(stream.events.last?.data.contains("alice") == true)
            let responseID = try #require(cancel.json?["backgroundResponseId"] as? String)
            #expect(try await ResponsesClient(configuration: .init(baseURL: h.provider.url)).retrieve(responseID: responseID).status == .cancelled)
            let again = try await h.call("POST", ServiceHarness.base("wf-cancel") + "/cancel", token: alice, json: ["sessionId": session])
            #expect(again.status == 409)
            #expect(again.errorCode == "session_ended")
            let none = try await h.call("POST", ServiceHarness.base("wf-cancel") + "/cancel", token: alice)
            #expect(none.status == 404)
            #expect(none.errorCode == "no_active_session")
        }
    }

    @Test("flags: USE_STREAMING off makes V3 start a 409 naming V2 without disturbing a running session; the rollout picks workflows; every change is recorded")
    func featureFlags() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 2000, pace: .milliseconds(5))) { h in
            let alice = try await h.token("alice")
            let admin = try await h.token("ops-1", role: .admin)
            let (running, _) = try await h.startStreaming("wf-running", token: alice)
            let refused = try await h.call("PUT", "/admin/flags", token: alice, json: ["useStreaming": false])
            #expect(refused.status == 403)
            let off = try await h.call("PUT", "/admin/flags", token: admin, json: ["useStreaming": false, "reason": "provider incident"])
            #expect(off.status == 200)
            #expect(off.json?["useStreaming"] as? Bool == false)
            let v3 = try await h.call("POST", ServiceHarness.base("wf-flag") + "/start", token: alice, json: ["prompt": "p", "skipClarification": true])
            #expect(v3.status == 409)
            #expect(v3.errorCode == "streaming_disabled")
            #expect(v3.text.contains("start-v2"))
            let v2 = try await h.call("POST", ServiceHarness.base("wf-flag") + "/start-v2", token: alice, json: ["prompt": "p", "skipClarification": true])
            #expect(v2.status == 201)
            let flags = try await h.call("GET", "/api/flags?workflowId=wf-flag", token: alice)
            #expect(flags.json?["streaming"] as? Bool == false)
            // The session that was running when the flag flipped still completes on the stream.
            let row = try await h.waitUntilEnded("wf-running", session: running, token: alice)
            #expect(row["status"] as? String == "completed")
            #expect(row["mode"] as? String == "streaming")
            // Rollout 0 %: on, but no workflow streams.
            #expect(try await h.call("PUT", "/admin/flags", token: admin, json: ["useStreaming": true, "rolloutPercent": 0]).status == 200)
            #expect(try await h.call("POST", ServiceHarness.base("wf-other") + "/start", token: alice, json: ["prompt": "p"]).errorCode == "streaming_disabled")
            #expect(try await h.call("PUT", "/admin/flags", token: admin, json: ["rolloutPercent": 101]).status == 400)
            let history = try await h.call("GET", "/admin/flags", token: admin)
            let changes = try #require(history.json?["history"] as? [[String: Any]])
            #expect(changes.count == 3)
            #expect(changes.allSatisfy { $0["changedBy"] as? String == "ops-1" })
            #expect(changes.last?["reason"] as? String == "provider incident")
            #expect(changes.last?["newValue"] as? String == "false")
        }
    }

    @Test("a session whose preparation died with its instance is picked up again: questions asked, or answers turned into research")
    func stalledPreparationsResume() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            _ = try await h.call("POST", "/api/workflows", token: alice, json: ["workflowId": "wf-orphan-1"])
            _ = try await h.call("POST", "/api/workflows", token: alice, json: ["workflowId": "wf-orphan-2"])
            // As if another instance appended these and died before calling the provider.
            let sessions = OutlineSessions(store: h.app.store)
            let asking = try await sessions.start(SessionStarted(workflowId: "wf-orphan-1", prompt: "Geothermal", mode: .streaming, requestedBy: "alice")).sessionID
            let answered = try await sessions.start(SessionStarted(workflowId: "wf-orphan-2", prompt: "Hydro", mode: .polling, requestedBy: "alice")).sessionID
            try await h.app.store.append(StreamAppend(sessionID: answered, expectedSequence: 1, events: [
                NewEvent(.clarificationRequested(ClarificationRequested(questions: ["Who reads it?"]))),
                NewEvent(.clarificationAnswered(ClarificationAnswered(answers: ["Engineers"]))),
            ]))
            try await Deadline.wait(for: "the orphaned session to ask its questions", within: .seconds(60), every: .milliseconds(50)) {
                try await h.call("GET", ServiceHarness.base("wf-orphan-1") + "/status?sessionId=\(asking.uuidString)", token: alice).json?["status"] as? String == "awaiting_clarification"
            }
            let row = try await h.waitUntilEnded("wf-orphan-2", session: answered.uuidString.lowercased(), token: alice)
            #expect(row["status"] as? String == "completed")
            #expect(await h.provider.state.researchCreates(forSession: answered.uuidString.lowercased()) == 1)
        }
    }
}
