import EventLog
import OutlineProjections
import Foundation
import PostgresClient
import Testing
import TestSupport
import OutlineServer

@Suite("Background compaction as clients see it")
struct CompactionServiceTests {
    @Test("a finished session compacted by an instance's own pass streams from any Last-Event-ID, replays, exports, lists and verifies as before")
    func compactedSessionOverHTTP() async throws {
        // The first instance does not compact: the readings before are taken there, whatever the machine's load.
        try await ServiceHarness.with(spec: .init(outputLength: 900, pace: .milliseconds(1)), configure: { $0.compaction.interval = nil }) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-compacted", token: alice)
            _ = try await h.waitUntilEnded("wf-compacted", session: session, token: alice)
            let log = try await h.log(session)
            func readings(_ h: ServiceHarness) async throws -> [String] {
                let streamURL = h.url + ServiceHarness.base("wf-compacted") + "/stream?sessionId=\(session)&token=\(streamToken)"
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
            let before = try await readings(h)
            #expect(try await h.app.pool.query("SELECT count(*) FROM outline_compacted_sessions")[0].decode(Int64.self, at: 0) == 0)
            // A second instance on the same database compacts as soon as a session ends.
            var configuration = ServiceHarness.configuration(provider: h.provider, name: "compacting")
            configuration.compaction.interval = .milliseconds(200)
            configuration.compaction.settle = .zero
            configuration.compaction.packWait = .zero
            try await ServiceHarness.serve(pool: h.pool, provider: h.provider, configuration: configuration) { second in
                let deadline = ContinuousClock.now + .seconds(60)
                while try await h.app.pool.query("SELECT count(*) FROM outline_compacted_sessions WHERE session_id = $1::uuid", session)[0].decode(Int64.self, at: 0) == 0 {
                    guard ContinuousClock.now < deadline else { Issue.record("the session was not compacted within 60 s"); return }
                    try await Task.sleep(for: .milliseconds(100))
                }
                // A session this small is packed (with any others that waited), not segmented alone.
                let packed = try await h.app.pool.query("SELECT pack_id IS NOT NULL FROM outline_compacted_sessions WHERE session_id = $1::uuid", session)[0].decode(Bool.self, at: 0)
                #expect(packed)
                #expect(try await readings(h) == before)
                #expect(try await readings(second) == before)
            }
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
                         "/api/sessions/\(session)/replay?speed=0", "/api/sessions/\(session)/durable-stream?offset=-1",
                         "/api/sessions/\(session)/durable-stream?offset=-1&live=sse"] {
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

    /// The real `outline-admin` beside this test bundle (built with the tests).
    static func admin(_ arguments: [String], database: String) async throws -> (status: Int32, output: String) {
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("outline-admin").path
        let (status, data) = try await runCollecting(path, arguments + ["--database-url", database], includeErrors: true)
        return (status, String(decoding: data, as: UTF8.self))
    }

    @Test("the life cycle by the documented commands: a streamed session compacted, its partition dropped, partly redacted; it still replays over HTTP, exports, re-hashes and verifies")
    func lifeCycleByTheDocumentedCommands() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 900, pace: .milliseconds(1)), configure: { $0.compaction.interval = nil },
                                      prepare: { try await LogPartitions(pool: $0).setSize(60) }) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-lifecycle", token: alice)
            _ = try await h.waitUntilEnded("wf-lifecycle", session: session, token: alice)
            let log = try await h.log(session)
            #expect(log.count > 60)
            let database = h.pool.settings.conninfo
            let text = log.filter { $0.eventType == "output_text.delta" }.map { String(decoding: $0.json, as: UTF8.self) }
            let sample = try #require(text.first)

            let compact = try await Self.admin(["compact"], database: database)
            #expect(compact.status == 0, "\(compact.output)")
            #expect(compact.output.contains("compacted 1 session(s)"), "\(compact.output)")
            let drop = try await Self.admin(["partitions", "drop", "--all-droppable", "--reason", "compacted", "--by", "ops"], database: database)
            #expect(drop.status == 0, "\(drop.output)")
            #expect(drop.output.contains("dropped outline_events_p"), "\(drop.output)")
            let redact = try await Self.admin(["redact", "--session", session, "--type", "output_text.delta", "--reason", "deletion request #7", "--by", "dpo"], database: database)
            #expect(redact.status == 0, "\(redact.output)")
            #expect(redact.output.contains("redacted \(text.count) event(s)"), "\(redact.output)")

            let verify = try await Self.admin(["verify", "--session", session], database: database)
            #expect(verify.status == 0, "\(verify.output)")
            #expect(verify.output.contains("intact with \(text.count) redaction(s)"), "\(verify.output)")
            #expect(verify.output.contains("by dpo: deletion request #7"), "\(verify.output)")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString).ndjson").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let export = try await Self.admin(["export", "--session", session, "--output", file], database: database)
            #expect(export.status == 0, "\(export.output)")
            let exported = try String(contentsOfFile: file, encoding: .utf8)
            #expect(exported.split(separator: "\n").count == log.count)
            #expect(!exported.contains(sample))
            let check = try await runCollecting(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("outline-admin").path,
                                                ["export-check", file], includeErrors: true)
            let checkOutput = String(decoding: check.output, as: UTF8.self)
            #expect(check.status == 0, "\(checkOutput)")
            #expect(checkOutput.contains("\(text.count) redacted"), "\(checkOutput)")
            let audit = try await Self.admin(["partitions", "audit"], database: database)
            #expect(audit.status == 0 && audit.output.contains("partition_dropped") && audit.output.contains("redacted"), "\(audit.output)")

            // Over HTTP: the replay and a stream from a Last-Event-ID show the tombstones, every id once, in order.
            let replay = try await SSEClient().connect(h.url + "/api/sessions/\(session)/replay?speed=0", headers: [("Authorization", "Bearer \(alice)")])
            #expect(replay.events.map { Int32($0.id ?? "") } == log.map(\.sequence))
            #expect(!replay.events.contains { $0.data == sample })
            #expect(replay.events.filter { $0.event == "output_text.delta" }.allSatisfy { $0.data.contains("\"redacted\":{") })
            let streamURL = h.url + ServiceHarness.base("wf-lifecycle") + "/stream?sessionId=\(session)&token=\(streamToken)"
            let resumed = try await SSEClient().connect(streamURL, headers: [("Last-Event-ID", "5")])
            #expect(resumed.events.map { Int32($0.id ?? "") } == log.dropFirst(5).map(\.sequence))
            let verified = try await h.call("GET", "/api/sessions/\(session)/verify", token: alice)
            #expect(verified.json?["intact"] as? Bool == true)
            #expect((verified.json?["redactions"] as? [Any])?.count == text.count)
        }
    }
}
