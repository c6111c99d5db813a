import Foundation
import SimulatedProvider
import Testing
import TestSupport

/// Workflow ids are per user: one user's ids can be neither seen, probed nor
/// squatted by another (issue 10, point 4).
@Suite("Workflow namespaces: another user's id answers like one nobody has")
struct WorkflowNamespaceTests {
    /// What a client can tell from a reply: its status and error code.
    static func shape(_ reply: ServiceHarness.Reply) -> String { "\(reply.status) \(reply.errorCode ?? "-")" }

    @Test("alice and bob both start on wf-shared: two workflows, two sessions, two provider runs; neither sees the other's")
    func sameIdTwoUsers() async throws {
        try await ServiceHarness.with(faults: [.holdAt(events: 5)]) { h in
            let alice = try await h.token("alice")
            let bob = try await h.token("bob")
            let base = ServiceHarness.base("wf-shared")
            let first = try await h.call("POST", base + "/start", token: alice, json: ["prompt": "Tidal energy", "skipClarification": true],
                                         headers: [("Idempotency-Key", "click-1")])
            #expect(first.status == 201)
            let aliceSession = try #require(first.json?["sessionId"] as? String)
            // Alice's session is active; bob's start on the same id is not a 409: it is bob's own workflow.
            let second = try await h.call("POST", base + "/start", token: bob, json: ["prompt": "Wave energy", "skipClarification": true],
                                          headers: [("Idempotency-Key", "click-1")])
            #expect(second.status == 201, "bob's start answered \(second.status): \(second.text)")
            let bobSession = try #require(second.json?["sessionId"] as? String)
            #expect(bobSession != aliceSession)
            #expect(second.json?["existing"] as? Bool == false, "the same idempotency key in another namespace is another key")

            #expect(try await h.call("GET", base + "/latest", token: alice).json?["id"] as? String == aliceSession)
            #expect(try await h.call("GET", base + "/latest", token: bob).json?["id"] as? String == bobSession)
            let bobsView = try await h.call("GET", base + "/status?sessionId=\(aliceSession)", token: bob)
            let unknown = try await h.call("GET", base + "/status?sessionId=\(UUID().uuidString.lowercased())", token: bob)
            #expect(Self.shape(bobsView) == Self.shape(unknown))
            #expect(bobsView.status == 404)
            #expect(!bobsView.text.contains("Tidal"))

            // Bob cancels "his" active session on wf-shared: his own, never alice's.
            let cancelled = try await h.call("POST", base + "/cancel", token: bob)
            #expect(cancelled.json?["id"] as? String == bobSession)
            await h.provider.state.releaseAll()
            let aliceRow = try await h.waitUntilEnded("wf-shared", session: aliceSession, token: alice)
            #expect(aliceRow["status"] as? String == "completed")
            #expect(aliceRow["workflowOwner"] as? String == "alice")
            let bobRow = try await h.waitUntilEnded("wf-shared", session: bobSession, token: bob)
            #expect(bobRow["status"] as? String == "cancelled")
            #expect(bobRow["workflowOwner"] as? String == "bob")
            #expect(await h.provider.state.researchCreates(forSession: aliceSession) == 1)
            #expect(await h.provider.state.researchCreates(forSession: bobSession) <= 1)

            // Each lists only their own.
            let bobsList = try await h.call("GET", "/api/workflows", token: bob).json?["workflows"] as? [[String: Any]] ?? []
            #expect(bobsList.map { $0["ownerId"] as? String } == [ "bob" ])
        }
    }

    @Test("for bob, every route answers alike on alice's id and on an id nobody has")
    func noProbing() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let bob = try await h.token("bob")
            #expect(try await h.call("POST", "/api/workflows", token: alice, json: ["workflowId": "wf-taken", "title": "Alice's"]).status == 201)
            let (session, _) = try await h.startStreaming("wf-taken", token: alice)
            func probe(_ id: String) async throws -> [String] {
                let base = ServiceHarness.base(id)
                var shapes: [String] = []
                for (method, path) in [("GET", base + "/latest"), ("POST", base + "/cancel"), ("GET", "/api/workflows/\(id)/export"),
                                       ("GET", base + "/status?sessionId=\(session)"), ("GET", base + "/latest?owner=alice"),
                                       ("GET", base + "/stream-token?sessionId=\(session)")] {
                    shapes.append("\(method) \(path.replacingOccurrences(of: id, with: "ID")): " + Self.shape(try await h.call(method, path, token: bob)))
                }
                // Creating and starting: bob may use any id, his own namespace is empty.
                shapes.append("create: " + Self.shape(try await h.call("POST", "/api/workflows", token: bob, json: ["workflowId": id])))
                shapes.append("create again: " + Self.shape(try await h.call("POST", "/api/workflows", token: bob, json: ["workflowId": id])))
                shapes.append("start-v2: " + Self.shape(try await h.call("POST", base + "/start-v2", token: bob, json: ["prompt": "p", "skipClarification": true])))
                return shapes
            }
            let taken = try await probe("wf-taken")
            let free = try await probe("wf-nobody-has-this")
            #expect(taken == free)
            #expect(taken.first { $0.hasPrefix("create:") } == "create: 201 -")
            #expect(taken.first { $0.contains("owner=alice") }?.hasSuffix("403 owner_not_allowed") == true)
            // Alice's workflow and session are as she left them.
            let row = try await h.waitUntilEnded("wf-taken", session: session, token: alice)
            #expect(row["workflowOwner"] as? String == "alice")
            let titles = try await h.call("GET", "/api/workflows", token: alice).json?["workflows"] as? [[String: Any]] ?? []
            #expect(titles.contains { $0["workflowId"] as? String == "wf-taken" && $0["title"] as? String == "Alice's" })
        }
    }

    @Test("an admin names a user's namespace with ?owner=; without it the admin's own")
    func adminNamesTheOwner() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let admin = try await h.token("ops", role: .admin)
            let (session, _) = try await h.startStreaming("wf-audit", token: alice)
            let base = ServiceHarness.base("wf-audit")
            _ = try await h.waitUntilEnded("wf-audit", session: session, token: alice)
            #expect(try await h.call("GET", base + "/latest?owner=alice", token: admin).json?["id"] as? String == session)
            #expect(try await h.call("GET", base + "/latest", token: admin).errorCode == "workflow_not_found")
            // Session routes: an admin reaches every session, with or without the owner.
            #expect(try await h.call("GET", base + "/status?sessionId=\(session)", token: admin).status == 200)
            #expect(try await h.call("GET", base + "/status?sessionId=\(session)&owner=alice", token: admin).status == 200)
            #expect(try await h.call("GET", base + "/status?sessionId=\(session)&owner=bob", token: admin).status == 404)
            let export = try await h.call("GET", "/api/workflows/wf-audit/export?owner=alice", token: admin)
            #expect(export.status == 200)
            #expect(export.text.split(separator: "\n").count == (try await h.log(session)).count)
        }
    }
}
