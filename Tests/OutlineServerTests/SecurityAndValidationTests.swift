import Foundation
import Hummingbird
import OutlineServer
import Testing
import TestSupport

/// Every route refuses what it should: no credential, someone else's
/// workflow, malformed input. A refusal is always a 4xx with a JSON error.
@Suite("Security and validation: 4xx with a JSON error, never another user's data")
struct SecurityAndValidationTests {
    @Test("another user's token gets 404 or 403 on every route, never data; stream tokens open only their session's stream")
    func ownership() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let bob = try await h.token("bob")
            let (session, streamToken) = try await h.startStreaming("wf-alice", token: alice)
            let (otherSession, _) = try await h.startStreaming("wf-alice-2", token: alice)
            let base = ServiceHarness.base("wf-alice")
            let attempts: [(String, String, Any?)] = [
                ("GET", base + "/status?sessionId=\(session)", nil),
                ("GET", base + "/latest", nil),
                ("POST", base + "/cancel", ["sessionId": session]),
                ("POST", base + "/cancel", nil),
                ("POST", base + "/clarifications", ["sessionId": session, "answers": ["x"]]),
                ("GET", base + "/stream?sessionId=\(session)&from=0", nil),
                ("GET", "/api/sessions/\(session)/events", nil),
                ("GET", base + "/stream-token?sessionId=\(session)", nil),
                ("GET", base + "/export", nil),
                // Naming alice's namespace outright.
                ("GET", base + "/latest?owner=alice", nil),
                // Guessing: alice's session under bob's own workflow.
                ("GET", ServiceHarness.base("wf-bob") + "/status?sessionId=\(session)", nil),
            ]
            _ = try await h.call("POST", "/api/workflows", token: bob, json: ["workflowId": "wf-bob"])
            for (method, path, body) in attempts {
                let reply = try await h.call(method, path, token: bob, json: body)
                #expect([403, 404].contains(reply.status), "\(method) \(path) answered \(reply.status)")
                #expect(reply.errorCode != nil, "\(method) \(path)")
                #expect(!reply.text.contains("Tidal"), "\(method) \(path) leaked the prompt")
            }
            // Bob's start on the same id makes bob's own workflow and session (see
            // WorkflowNamespaceTests); alice's session is untouched.
            // No credential, a forged one, a malformed header: 401.
            for headers in [[], [("Authorization", "Bearer not.a.token")], [("Authorization", "Basic abc")]] {
                let reply = try await h.call("GET", base + "/latest", headers: headers)
                #expect(reply.status == 401)
                #expect(reply.errorCode == "unauthorized")
            }
            let forged = try await ServiceHarness(url: h.url, app: OutlineServerApplication(pool: h.pool, migrations: []), provider: h.provider, pool: h.pool).token("alice")
            #expect(try await h.call("GET", base + "/latest", token: forged).status == 401)
            // The stream token opens its own session's stream, nothing else.
            let otherStream = try await h.call("GET", ServiceHarness.base("wf-alice-2") + "/stream?sessionId=\(otherSession)&token=\(streamToken)&from=0")
            #expect(otherStream.status == 404)
            #expect(try await h.call("GET", base + "/status?sessionId=\(session)", token: streamToken).status == 403)
            #expect(try await h.call("GET", base + "/latest?token=\(alice)").status == 401) // API tokens never travel in the query
            // Admin routes need the admin role; an admin reaches everything.
            #expect(try await h.call("GET", "/admin/flags", token: alice).status == 403)
            let admin = try await h.token("ops", role: .admin)
            #expect(try await h.call("GET", base + "/status?sessionId=\(session)", token: admin).status == 200)
            _ = try await h.waitUntilEnded("wf-alice", session: session, token: alice)
            _ = try await h.waitUntilEnded("wf-alice-2", session: otherSession, token: alice)
            let ownStream = try await h.call("GET", base + "/stream?sessionId=\(session)&token=\(streamToken)", headers: [("Last-Event-ID", "999999")])
            #expect(ownStream.status == 204)
        }
    }

    @Test("every kind of bad input on every route gets a 4xx with a JSON error that names the problem")
    func badInput() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let (session, _) = try await h.startStreaming("wf-input", token: alice)
            let base = ServiceHarness.base("wf-input")
            let big = String(repeating: "x", count: 70_000)
            struct Case { var method: String; var path: String; var body: [UInt8]?; var contentType: String?; var status: Int; var code: String }
            func raw(_ text: String) -> [UInt8] { Array(text.utf8) }
            let cases: [Case] = [
                Case(method: "POST", path: base + "/start", body: raw("{"), contentType: "application/json", status: 400, code: "invalid_json"),
                Case(method: "POST", path: base + "/start", body: raw("{}"), contentType: "application/json", status: 400, code: "missing_field"),
                Case(method: "POST", path: base + "/start", body: raw("{\"prompt\": 5}"), contentType: "application/json", status: 400, code: "invalid_field"),
                Case(method: "POST", path: base + "/start", body: raw("{\"prompt\": \"   \"}"), contentType: "application/json", status: 400, code: "invalid_field"),
                Case(method: "POST", path: base + "/start", body: raw("{\"prompt\": \"p\", \"skipClarification\": \"yes\"}"), contentType: "application/json", status: 400, code: "invalid_field"),
                Case(method: "POST", path: base + "/start", body: raw("{\"prompt\": \"\(big)\"}"), contentType: "application/json", status: 413, code: "body_too_large"),
                Case(method: "POST", path: base + "/start", body: raw("prompt=p"), contentType: "application/x-www-form-urlencoded", status: 415, code: "unsupported_media_type"),
                Case(method: "POST", path: base + "/start", body: nil, contentType: nil, status: 400, code: "missing_body"),
                Case(method: "POST", path: base + "/start-v2", body: raw("[1,2]"), contentType: "application/json", status: 400, code: "invalid_json"),
                Case(method: "POST", path: "/api/workflows/bad%20id!/outline-generation/start", body: raw("{\"prompt\": \"p\"}"), contentType: "application/json", status: 400, code: "invalid_workflow_id"),
                Case(method: "GET", path: base + "/status", body: nil, contentType: nil, status: 400, code: "missing_session_id"),
                Case(method: "GET", path: base + "/status?sessionId=not-a-uuid", body: nil, contentType: nil, status: 400, code: "invalid_session_id"),
                Case(method: "GET", path: base + "/status?sessionId=\(UUID().uuidString)", body: nil, contentType: nil, status: 404, code: "session_not_found"),
                Case(method: "GET", path: base + "/stream?sessionId=zzz", body: nil, contentType: nil, status: 400, code: "invalid_session_id"),
                Case(method: "POST", path: base + "/cancel", body: raw("{\"sessionId\": 12}"), contentType: "application/json", status: 400, code: "invalid_field"),
                Case(method: "POST", path: base + "/cancel", body: raw("{\"sessionId\": \"nope\"}"), contentType: "application/json", status: 400, code: "invalid_session_id"),
                Case(method: "POST", path: base + "/clarifications", body: raw("{\"sessionId\": \"\(session)\"}"), contentType: "application/json", status: 400, code: "missing_field"),
                Case(method: "POST", path: base + "/clarifications", body: raw("{\"sessionId\": \"\(session)\", \"answers\": [1]}"), contentType: "application/json", status: 400, code: "invalid_field"),
                Case(method: "GET", path: ServiceHarness.base("wf-never") + "/latest", body: nil, contentType: nil, status: 404, code: "workflow_not_found"),
                Case(method: "GET", path: "/api/sessions/xyz/events", body: nil, contentType: nil, status: 400, code: "invalid_session_id"),
                Case(method: "GET", path: "/api/sessions/\(session)/events?after=-1", body: nil, contentType: nil, status: 400, code: "invalid_after"),
                Case(method: "GET", path: "/api/sessions/\(session)/events?limit=0", body: nil, contentType: nil, status: 400, code: "invalid_limit"),
                Case(method: "GET", path: "/api/sessions/\(session)/events?limit=abc", body: nil, contentType: nil, status: 400, code: "invalid_limit"),
                Case(method: "GET", path: "/api/sessions/\(session)/events?format=xml", body: nil, contentType: nil, status: 400, code: "invalid_format"),
                Case(method: "POST", path: "/api/workflows", body: raw("{\"workflowId\": \"a/b\"}"), contentType: "application/json", status: 400, code: "invalid_workflow_id"),
                Case(method: "DELETE", path: base + "/start", body: nil, contentType: nil, status: 405, code: "method_not_allowed"),
                Case(method: "PUT", path: "/api/sessions/\(session)/events", body: nil, contentType: nil, status: 405, code: "method_not_allowed"),
                Case(method: "GET", path: "/api/nothing-here", body: nil, contentType: nil, status: 404, code: "not_found"),
            ]
            for item in cases {
                let headers = item.contentType.map { [("Content-Type", $0)] } ?? []
                let reply = try await h.call(item.method, item.path, token: alice, body: item.body, headers: headers)
                #expect(reply.status == item.status, "\(item.method) \(item.path) \(item.body.map { String(decoding: $0.prefix(60), as: UTF8.self) } ?? ""): \(reply.status) \(reply.text.prefix(200))")
                #expect(reply.errorCode == item.code, "\(item.method) \(item.path): \(reply.text.prefix(200))")
                #expect(reply.head.header("content-type") == "application/json")
                #expect(reply.head.header("x-request-id")?.isEmpty == false)
            }
            // Field names are reported.
            let missing = try await h.call("POST", base + "/start", token: alice, body: raw("{}"), headers: [("Content-Type", "application/json")])
            #expect((missing.json?["error"] as? [String: Any])?["field"] as? String == "prompt")
            // Admin flag input.
            let admin = try await h.token("ops", role: .admin)
            #expect(try await h.call("PUT", "/admin/flags", token: admin, json: [String: Any]()).errorCode == "missing_field")
            #expect(try await h.call("PUT", "/admin/flags", token: admin, json: ["rolloutPercent": -1]).status == 400)
            #expect(try await h.call("PUT", "/admin/flags", token: admin, json: ["useStreaming": "no"]).status == 400)
            _ = try await h.waitUntilEnded("wf-input", session: session, token: alice)
        }
    }

    @Test("the OpenAPI document lists exactly the routes the server registers")
    func openAPIMatchesRoutes() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let app = OutlineServerApplication(pool: pool, migrations: try TestDatabase.migrations(), logger: TestDatabase.quietLogger)
            let registered = Set(try app.router().routes.map { "\($0.method.rawValue) \($0.path.description)" })
            let document = try #require(try JSONSerialization.jsonObject(with: try Data(contentsOf: Self.openAPIURL())) as? [String: Any])
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            var documented = Set<String>()
            for (path, operations) in paths {
                let routerPath = path // the router describes parameters as {name}, like OpenAPI
                for method in operations.keys where ["get", "head", "post", "put", "delete", "patch"].contains(method) {
                    documented.insert("\(method.uppercased()) \(routerPath)")
                }
            }
            #expect(registered.subtracting(documented).isEmpty, "registered but not documented: \(registered.subtracting(documented).sorted())")
            #expect(documented.subtracting(registered).isEmpty, "documented but not registered: \(documented.subtracting(registered).sorted())")
        }
    }

    static func openAPIURL() -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/OutlineServer/Resources/openapi.json")
    }

    @Test("/metrics speaks Prometheus and carries the service's metrics; /openapi.json is served")
    func metrics() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let (session, _) = try await h.startStreaming("wf-metrics", token: alice)
            _ = try await h.waitUntilEnded("wf-metrics", session: session, token: alice)
            let reply = try await h.call("GET", "/metrics")
            #expect(reply.status == 200)
            #expect(reply.head.header("content-type")?.hasPrefix("text/plain") == true)
            for name in ["outline_active_sessions", "outline_events_appended_total", "outline_append_batch_seconds_bucket", "outline_sse_clients",
                         "outline_v2_polls_total", "outline_time_to_first_content_seconds_bucket"] {
                #expect(reply.text.contains(name), "\(name) missing from /metrics")
            }
            let openapi = try await h.call("GET", "/openapi.json")
            #expect(openapi.json?["openapi"] as? String == "3.1.0")
        }
    }
}
