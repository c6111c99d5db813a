import Foundation
import Testing
import OutlineServer

/// Issue 15 point 4: every JSON body the API writes names its fields in one
/// style, camelCase, as the OpenAPI document says. What is not ours to rename
/// keeps its keys: the caller's own `metadata`, and the provider's objects an
/// event records verbatim (its `usage`, a webhook's `data`).
@Suite("One JSON style: camelCase in every body the API writes")
struct JSONStyleTests {
    /// Subtrees whose keys belong to someone else.
    static let foreignKeys: Set<String> = ["metadata", "sessionMetadata", "usage", "data"]

    static func offendingKeys(_ value: Any, path: String = "$") -> [String] {
        switch value {
        case let object as [String: Any]:
            return object.flatMap { key, child -> [String] in
                let here = path + "." + key
                let own = key.range(of: "^[a-z][A-Za-z0-9]*$", options: .regularExpression) == nil ? [here] : []
                return own + (foreignKeys.contains(key) ? [] : offendingKeys(child, path: here))
            }
        case let array as [Any]:
            return array.enumerated().flatMap { offendingKeys($0.element, path: path + "[\($0.offset)]") }
        default:
            return []
        }
    }

    static func parsed(_ body: [UInt8]) -> Any? { try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) }

    @Test("status, latest, cancel, start, events, verify, export, workflows, spending, flags, diagnostics, errors and SSE data: camelCase keys only; the session's keys are the OpenAPI document's")
    func everyBody() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 400, pace: .milliseconds(1)), configure: { $0.compaction.interval = nil }) { h in
            let alice = try await h.token("alice")
            let admin = try await h.token("ops", role: .admin)
            var bodies: [(String, [UInt8])] = []
            let created = try await h.call("POST", "/api/workflows", token: alice, json: ["workflowId": "wf-style", "title": "Style"])
            bodies.append(("POST /api/workflows", created.body))
            let started = try await h.call("POST", ServiceHarness.base("wf-style") + "/start", token: alice,
                                            json: ["prompt": "Tidal energy", "skipClarification": true, "metadata": ["client_ref": "kept as sent"]])
            #expect(started.status == 201, "\(started.text)")
            bodies.append(("start", started.body))
            let session = try #require(started.json?["sessionId"] as? String)
            let streamToken = try #require(started.json?["streamToken"] as? String)
            let row = try await h.waitUntilEnded("wf-style", session: session, token: alice)
            #expect(row["status"] as? String == "completed")
            #expect((row["sessionMetadata"] as? [String: Any])?["client_ref"] as? String == "kept as sent")
            #expect(row.keys.contains("finalOutline") && row.keys.contains("isActive") && !row.keys.contains("final_outline"))

            // The session's keys are exactly the OpenAPI document's OutlineSession properties.
            let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: SecurityAndValidationTests.openAPIURL())) as? [String: Any])
            let schema = try #require(((document["components"] as? [String: Any])?["schemas"] as? [String: Any])?["OutlineSession"] as? [String: Any])
            let documented = Set((schema["properties"] as? [String: Any] ?? [:]).keys)
            #expect(Set(row.keys) == documented, "served but not documented: \(Set(row.keys).subtracting(documented)); documented but not served: \(documented.subtracting(row.keys))")

            for (name, path, token) in [
                ("status", ServiceHarness.base("wf-style") + "/status?sessionId=\(session)", alice),
                ("latest", ServiceHarness.base("wf-style") + "/latest", alice),
                ("events", "/api/sessions/\(session)/events?after=0&limit=1000", alice),
                ("verify", "/api/sessions/\(session)/verify", alice),
                ("workflows", "/api/workflows", alice),
                ("spending", "/api/spending?workflowId=wf-style", alice),
                ("flags", "/admin/flags", admin),
                ("diagnostics", "/admin/outline-generation-diagnostics", admin),
                ("not found", ServiceHarness.base("wf-style") + "/status?sessionId=\(UUID().uuidString)", alice),
                ("bad input", ServiceHarness.base("wf-style") + "/status?sessionId=nope", alice),
                ("no session", ServiceHarness.base("wf-empty") + "/latest", alice),
            ] as [(String, String, String)] {
                let reply = try await h.call("GET", path, token: token)
                #expect(reply.head.header("content-type")?.hasPrefix("application/json") == true, "\(name): \(reply.head.header("content-type") ?? "none")")
                bodies.append((name, reply.body))
            }
            let export = try await h.call("GET", "/api/workflows/wf-style/export", token: alice)
            #expect(export.status == 200)
            for (index, line) in export.text.split(separator: "\n").enumerated() { bodies.append(("export line \(index + 1)", Array(line.utf8))) }

            // A second session, cancelled: the cancel body is a session too.
            let second = try await h.call("POST", ServiceHarness.base("wf-style") + "/start", token: alice, json: ["prompt": "Wave energy", "skipClarification": true])
            #expect(second.status == 201, "\(second.text)")
            let cancelled = try await h.call("POST", ServiceHarness.base("wf-style") + "/cancel", token: alice)
            bodies.append(("cancel", cancelled.body))
            let cancelledID = try #require(second.json?["sessionId"] as? String)
            let conflict = try await h.call("POST", ServiceHarness.base("wf-style") + "/cancel", token: alice)
            bodies.append(("cancel again", conflict.body))
            _ = try await h.waitUntilEnded("wf-style", session: cancelledID, token: alice)

            // The SSE stream's data lines (snapshot and events) of the finished session.
            let stream = try await SSEClient().connect(h.url + ServiceHarness.base("wf-style") + "/stream?sessionId=\(session)&token=\(streamToken)")
            #expect(stream.events.contains { $0.event == "snapshot" })
            for event in stream.events where !event.data.isEmpty { bodies.append(("SSE \(event.event)", Array(event.data.utf8))) }

            #expect(bodies.count > 20)
            for (name, body) in bodies {
                let value = try #require(Self.parsed(body), "\(name) is not JSON: \(String(decoding: body.prefix(200), as: UTF8.self))")
                let offending = Self.offendingKeys(value)
                #expect(offending.isEmpty, "\(name): keys not in camelCase: \(offending.prefix(10))")
            }
        }
    }

    @Test("the style check itself: it names a snake_case key anywhere, and leaves the caller's metadata alone")
    func checkerFindsSnakeKeys() {
        #expect(Self.offendingKeys(["a": ["b_c": 1]]) == ["$.a.b_c"])
        #expect(Self.offendingKeys(["list": [["okName": 1], ["Bad": 2]]]) == ["$.list[1].Bad"])
        #expect(Self.offendingKeys(["metadata": ["client_ref": 1], "fine": true]).isEmpty)
    }
}
