import EventLog
import OutlineProjections
import Foundation
import PostgresClient
import Testing
import TestSupport
import OutlineServer

@Suite("Background compaction as clients see it")
struct CompactionServiceTests {
    @Test("a finished session compacted by the instance's own pass streams from any Last-Event-ID, replays, exports, lists and verifies as before")
    func compactedSessionOverHTTP() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 900, pace: .milliseconds(1)), configure: {
            $0.compaction.interval = .milliseconds(200)
            // Long enough for the readings before compaction (a few hundred ms) on a loaded machine.
            $0.compaction.settle = .seconds(10)
        }) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-compacted", token: alice)
            _ = try await h.waitUntilEnded("wf-compacted", session: session, token: alice)
            let log = try await h.log(session)
            let streamURL = h.url + ServiceHarness.base("wf-compacted") + "/stream?sessionId=\(session)&token=\(streamToken)"
            func readings() async throws -> [String] {
                var out: [String] = []
                for cursor in [0, 1, log.count / 2, log.count - 2] {
                    let stream = try await SSEClient().connect(streamURL, headers: [("Last-Event-ID", "\(cursor)")])
                    out.append(stream.events.map { "\($0.id ?? "")|\($0.event)|\($0.data)" }.joined(separator: "\n"))
                }
                let replay = try await SSEClient().connect(h.url + "/api/sessions/\(session)/replay?speed=0", headers: [("Authorization", "Bearer \(alice)")])
                out.append(replay.events.map { "\($0.id ?? "")|\($0.data)" }.joined(separator: "\n"))
                out.append(String(decoding: try await h.call("GET", "/api/workflows/wf-compacted/export", token: alice).body, as: UTF8.self))
                out.append(String(decoding: try await h.call("GET", "/api/sessions/\(session)/events?after=3&limit=50", token: alice).body, as: UTF8.self))
                let verified = try await h.call("GET", "/api/sessions/\(session)/verify", token: alice)
                out.append("\(verified.json?["intact"] ?? "nil") \(verified.json?["events"] ?? "nil")")
                return out
            }
            // The instance's pass leaves the session hot for 10 s: read, then wait for it, then read again.
            let before = try await readings()
            let compactedAlready = try await h.app.pool.query("SELECT count(*) FROM outline_compacted_sessions WHERE session_id = $1::uuid", session)[0].decode(Int64.self, at: 0)
            #expect(compactedAlready == 0, "the readings before compaction took over 10 s")
            let deadline = ContinuousClock.now + .seconds(60)
            while try await h.app.pool.query("SELECT count(*) FROM outline_compacted_sessions WHERE session_id = $1::uuid", session)[0].decode(Int64.self, at: 0) == 0 {
                guard ContinuousClock.now < deadline else { Issue.record("the session was not compacted within 60 s"); return }
                try await Task.sleep(for: .milliseconds(100))
            }
            let segments = try await h.app.pool.query("SELECT count(*) FROM outline_event_segments WHERE session_id = $1::uuid", session)[0].decode(Int64.self, at: 0)
            #expect(segments >= 1)
            let after = try await readings()
            #expect(after == before)
            #expect(before[0].split(separator: "\n").count == log.count)
            #expect(before[7] == "1 \(log.count)")
        }
    }

    @Test("a session removed by retention answers 410 session_removed (when and why) to its owner on every route, 404 to anyone else")
    func removedSessionOverHTTP() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 300, pace: .milliseconds(1)), configure: { $0.compaction.interval = nil }) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-expiring", token: alice)
            _ = try await h.waitUntilEnded("wf-expiring", session: session, token: alice)
            let retention = SessionRetention(pool: h.app.pool)
            try await retention.setPolicy(keepDays: 1, by: "ops")
            let outcomes = try await retention.apply(asOf: Date().addingTimeInterval(2 * 86_400), actor: "test")
            #expect(outcomes.count == 1)
            let base = ServiceHarness.base("wf-expiring")
            for path in ["\(base)/status?sessionId=\(session)", "/api/sessions/\(session)/events", "/api/sessions/\(session)/verify",
                         "/api/sessions/\(session)/replay?speed=0"] {
                let reply = try await h.call("GET", path, token: alice)
                #expect(reply.status == 410, "\(path)")
                #expect(reply.errorCode == "session_removed", "\(path)")
                let fields = (reply.json?["error"] as? [String: Any])
                #expect((fields?["reason"] as? String)?.contains("1 day(s)") == true || reply.json.map { "\($0)" }?.contains("1 day(s)") == true, "\(path)")
                #expect(try await h.call("GET", path, token: try await h.token("mallory")).status == 404, "\(path)")
            }
            let stream = try await h.call("GET", base + "/stream?sessionId=\(session)&token=\(streamToken)")
            #expect(stream.status == 410)
            // The workflow's latest session is gone with it.
            #expect(try await h.call("GET", base + "/latest", token: alice).status == 404)
        }
    }
}
