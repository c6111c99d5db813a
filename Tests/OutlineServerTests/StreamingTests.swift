import EventLog
import Foundation
import OpenAIResponses
import Testing
import TestSupport
import Synchronization

/// The V3 path end to end over real sockets: start, SSE replay and live tail,
/// reconnects by Last-Event-ID, two instances, snapshot and 204.
@Suite("SSE streams resume exactly by Last-Event-ID")
struct StreamingTests {
    static func deltas(_ events: [ServerSentEvent]) -> String {
        events.filter { $0.event == "output_text.delta" }.compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.data.utf8))) as? [String: Any])?["delta"] as? String
        }.joined()
    }

    @Test("start → stream → final outline: the stream equals the log, ends with the terminal event, and a reconnect past it gets 204")
    func startToFinalOutline() async throws {
        try await ServiceHarness.with { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-stream", token: alice)
            let streamURL = h.url + ServiceHarness.base("wf-stream") + "/stream?sessionId=\(session)&token=\(streamToken)"
            let connection = try await SSEClient().connect(streamURL + "&from=0")
            #expect(connection.status == 200)
            #expect(connection.contentType?.hasPrefix("text/event-stream") == true)
            #expect(connection.endedByServer)
            let log = try await h.log(session)
            #expect(connection.events.map { Int32($0.id ?? "") } == log.map(\.sequence))
            #expect(connection.events.map(\.event) == log.map(\.eventType))
            #expect(connection.events.last?.event == "session.completed")
            let row = try await h.waitUntilEnded("wf-stream", session: session, token: alice)
            let responseID = try #require(row["backgroundResponseId"] as? String)
            let transcript = try #require(await h.provider.state.transcript(ofResponse: responseID))
            #expect(Self.deltas(connection.events) == transcript.text)
            #expect(row["finalOutline"] as? String == transcript.text)
            let again = try await h.call("GET", ServiceHarness.base("wf-stream") + "/stream?sessionId=\(session)&token=\(streamToken)",
                                         headers: [("Last-Event-ID", "\(log.last!.sequence)")])
            #expect(again.status == 204)
            // A new client of a finished session gets its snapshot, not every delta.
            let fresh = try await SSEClient().connect(streamURL)
            #expect(fresh.events.map(\.event) == ["snapshot"])
            #expect(fresh.events.first?.id == "\(log.last!.sequence)")
            let snapshot = try #require((try JSONSerialization.jsonObject(with: Data(fresh.events[0].data.utf8))) as? [String: Any])
            #expect(snapshot["finalOutline"] as? String == transcript.text)
        }
    }

    @Test("a fresh client at any moment of a stream (a page reload) gets a snapshot whose text, with the deltas after it, is the whole outline")
    func snapshotsMidStream() async throws {
        // The run holds at event 120 until released: at least one reload lands mid-stream
        // however loaded the machine; the others race the live stream on purpose.
        try await ServiceHarness.with(spec: .init(outputLength: 3000, deltaSize: 10, pace: .milliseconds(4)), faults: [.holdAt(events: 120)]) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-snapshots", token: alice)
            let streamURL = h.url + ServiceHarness.base("wf-snapshots") + "/stream?sessionId=\(session)&token=\(streamToken)"
            let responseID = try await Deadline.value(of: "the stored response id", within: .seconds(60)) {
                try await h.log(session).lazy.compactMap { if case .providerResponseAccepted(let a) = $0.event { a.responseId } else { nil } }.first
            }
            try await Deadline.wait(for: "the provider's stream to reach its hold", within: .seconds(60)) {
                await h.provider.state.streamReachedHold(responseID: responseID)
            }
            let reloads = try await withThrowingTaskGroup(of: SSEClient.Connection.self) { group in
                group.addTask { try await SSEClient().connect(streamURL) }
                // The held reload is connected (its snapshot is read) before the run goes on.
                try await Deadline.wait(for: "the held reload's stream", within: .seconds(30)) { h.app.hub.clientCount >= 1 }
                await h.provider.state.releaseAll()
                for _ in 0..<12 {
                    group.addTask { try await SSEClient().connect(streamURL) }
                    try await Task.sleep(for: .milliseconds(40))   // spacing, not synchronization: any moment is a valid one
                }
                var all: [SSEClient.Connection] = []
                for try await connection in group { all.append(connection) }
                return all
            }
            let row = try await h.waitUntilEnded("wf-snapshots", session: session, token: alice)
            let transcript = try #require(await h.provider.state.transcript(ofResponse: responseID))
            #expect(row["finalOutline"] as? String == transcript.text)
            var midStream = 0
            for reload in reloads {
                #expect(reload.status == 200)
                let first = try #require(reload.events.first)
                #expect(first.event == "snapshot")
                let snapshot = try #require((try JSONSerialization.jsonObject(with: Data(first.data.utf8))) as? [String: Any])
                let snapshotID = try #require(Int32(first.id ?? ""))
                #expect(snapshot["lastEventSequence"] as? Int == Int(snapshotID))
                if snapshot["status"] as? String != "completed" { midStream += 1 }
                let after = reload.events.dropFirst()
                let ids = after.compactMap { Int32($0.id ?? "") }
                #expect(ids == Array((snapshotID + 1)..<(snapshotID + 1 + Int32(ids.count))), "the events after the snapshot at \(snapshotID) are not exactly the next ones")
                let text = (snapshot["outputText"] as? String ?? "") + Self.deltas(Array(after))
                #expect(text == transcript.text, "snapshot at \(snapshotID) (\(snapshot["status"] ?? "")) held \((snapshot["outputText"] as? String ?? "").count) characters; with what followed \(text.count) of \(transcript.text.count)")
            }
            #expect(midStream >= 1)
        }
    }

    @Test("a client that hangs up at 20 random points and reconnects with Last-Event-ID receives exactly the log: no gap, no duplicate")
    func randomDisconnects() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 3000, deltaSize: 10, pace: .milliseconds(8))) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-reconnect", token: alice)
            let streamURL = h.url + ServiceHarness.base("wf-reconnect") + "/stream?sessionId=\(session)&token=\(streamToken)"
            var received: [ServerSentEvent] = []
            var cursor: String?
            var hangUps = 0
            var seed = UInt64.random(in: 1...UInt64.max)
            let firstSeed = seed
            while true {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                let keep = Int((seed >> 33) % 12) + 1 // 1...12 events, then hang up: 20 hang-ups need at most 240 of the ~330 events
                let counter = Counter()
                let hangUp = hangUps < 20
                let headers = cursor.map { [("Last-Event-ID", $0)] } ?? []
                let connection = try await SSEClient().connect(cursor == nil ? streamURL + "&from=0" : streamURL, headers: headers) { _ in
                    hangUp && counter.next() >= keep
                }
                if connection.status == 204 { break }
                #expect(connection.status == 200, "seed \(firstSeed)")
                received += connection.events
                cursor = received.last?.id ?? cursor
                if !connection.endedByServer { hangUps += 1 }
                if connection.endedByServer && received.last.map({ ["session.completed", "session.failed", "session.cancelled"].contains($0.event ?? "") }) == true { break }
            }
            #expect(hangUps == 20, "seed \(firstSeed)")
            let log = try await h.log(session)
            #expect(received.map { Int32($0.id ?? "") } == log.map(\.sequence), "seed \(firstSeed)")
            #expect(received.map(\.data) == log.map { String(decoding: $0.json, as: UTF8.self) }, "seed \(firstSeed)")
        }
    }

    @Test("two instances on one database: a client streams from the second while the first runs the session")
    func twoInstances() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 1500, pace: .milliseconds(4))) { first in
            var configuration = ServiceHarness.configuration(provider: first.provider, name: "second")
            configuration.adoptionInterval = .seconds(3600)
            try await ServiceHarness.serve(pool: first.pool, provider: first.provider, configuration: configuration) { second in
                let alice = try await first.token("alice")
                let (session, streamToken) = try await first.startStreaming("wf-two", token: alice)
                let connection = try await SSEClient().connect(second.url + ServiceHarness.base("wf-two") + "/stream?sessionId=\(session)&token=\(streamToken)&from=0")
                #expect(connection.endedByServer)
                let log = try await first.log(session)
                #expect(connection.events.map { Int32($0.id ?? "") } == log.map(\.sequence))
                #expect(connection.events.last?.event == "session.completed")
                #expect(await second.app.hub.clientCount == 0)
            }
        }
    }

    @Test("two instances: four sessions run by the first, released together, stream whole from the second (its notifications name several sessions, read at once)")
    func twoInstancesManySessions() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 1500, pace: .milliseconds(2)), faults: [.holdAt(events: 5)]) { first in
            var configuration = ServiceHarness.configuration(provider: first.provider, name: "second")
            configuration.adoptionInterval = .seconds(3600)
            try await ServiceHarness.serve(pool: first.pool, provider: first.provider, configuration: configuration) { second in
                let alice = try await first.token("alice")
                var started: [(session: String, streamToken: String)] = []
                for index in 0..<4 { started.append(try await first.startStreaming("wf-many-\(index)", token: alice)) }
                let (sessions, secondURL) = (started, second.url)
                let connections = Task {
                    try await withThrowingTaskGroup(of: (String, SSEClient.Connection).self) { group in
                        for (index, (session, token)) in sessions.enumerated() {
                            group.addTask {
                                (session, try await SSEClient().connect(secondURL + ServiceHarness.base("wf-many-\(index)") + "/stream?sessionId=\(session)&token=\(token)&from=0"))
                            }
                        }
                        return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
                    }
                }
                // Every run waits at the provider and every stream listens on the second instance: then all go at once.
                try await Deadline.wait(for: "four held runs and four listening streams", within: .seconds(60)) {
                    var held = true
                    for (session, _) in started where !(await first.provider.state.streamsReachedHold(session: session)) { held = false }
                    return held && second.app.hub.clientCount == 4
                }
                await first.provider.state.releaseAll()
                let received = try await connections.value
                for (session, _) in started {
                    let connection = try #require(received[session])
                    let log = try await first.log(session)
                    #expect(connection.endedByServer)
                    #expect(connection.events.map { Int32($0.id ?? "") } == log.map(\.sequence))
                    #expect(connection.events.last?.event == "session.completed")
                }
            }
        }
    }

    @Test("a client that falls behind its buffer limit is dropped and resumes by Last-Event-ID with nothing lost")
    func slowClientDropped() async throws {
        // A limit of one byte: every live batch overflows, so the client only ever
        // progresses through reconnects and the backlog read from the log.
        try await ServiceHarness.with(spec: .init(outputLength: 1500, pace: .milliseconds(3)), configure: { $0.hub.bufferLimit = 1 }) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-slow", token: alice)
            let streamURL = h.url + ServiceHarness.base("wf-slow") + "/stream?sessionId=\(session)&token=\(streamToken)"
            var received: [ServerSentEvent] = []
            var drops = 0
            while true {
                let headers = received.last?.id.map { [("Last-Event-ID", $0)] } ?? []
                let connection = try await SSEClient().connect(received.isEmpty ? streamURL + "&from=0" : streamURL, headers: headers)
                if connection.status == 204 { break }
                received += connection.events
                if ["session.completed", "session.failed"].contains(received.last?.event ?? "") { break }
                drops += 1
            }
            #expect(drops > 0)
            let log = try await h.log(session)
            #expect(received.map { Int32($0.id ?? "") } == log.map(\.sequence))
            let metrics = try await h.call("GET", "/metrics")
            #expect(metrics.text.contains("outline_sse_clients_dropped_total"))
        }
    }

    @Test("a past session replays through the same SSE format, as fast as possible or paced, and verifies over HTTP; bad speeds are a 400")
    func replay() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 400, pace: .milliseconds(1))) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-replay", token: alice)
            _ = try await h.waitUntilEnded("wf-replay", session: session, token: alice)
            let log = try await h.log(session)
            let fast = try await SSEClient().connect(h.url + "/api/sessions/\(session)/replay?speed=0", headers: [("Authorization", "Bearer \(alice)")])
            #expect(fast.endedByServer)
            #expect(fast.events.map { Int32($0.id ?? "") } == log.map(\.sequence))
            #expect(fast.events.map(\.data) == log.map { String(decoding: $0.json, as: UTF8.self) })
            let paced = try await SSEClient().connect(h.url + "/api/sessions/\(session)/replay?speed=50&after=\(log.count - 5)", headers: [("Authorization", "Bearer \(alice)")])
            #expect(paced.events.map(\.id) == log.suffix(5).map { "\($0.sequence)" })
            // The page's way in: the session's stream token in the query, a dropped playback resumed by Last-Event-ID.
            let resumed = try await SSEClient().connect(h.url + "/api/sessions/\(session)/replay?speed=0&token=\(streamToken)",
                                                        headers: [("Last-Event-ID", "\(log.count - 3)")])
            #expect(resumed.events.map(\.id) == log.suffix(3).map { "\($0.sequence)" })
            for bad in ["abc", "-1", "5000"] {
                #expect(try await h.call("GET", "/api/sessions/\(session)/replay?speed=\(bad)", token: alice).errorCode == "invalid_speed")
            }
            #expect(try await h.call("GET", "/api/sessions/\(session)/replay", token: try await h.token("mallory")).status == 404)

            // The analysts' audit of the same session, over HTTP.
            let verified = try await h.call("GET", "/api/sessions/\(session)/verify", token: alice)
            #expect(verified.status == 200)
            #expect(verified.json?["intact"] as? Bool == true)
            #expect((verified.json?["events"] as? Int) == log.count)
            #expect(verified.json?["brokenLink"] == nil)
            #expect(try await h.call("GET", "/api/sessions/\(session)/verify", token: try await h.token("mallory")).status == 404)

            // The workflow's export over HTTP: the log's lines, and they re-hash.
            let export = try await h.call("GET", "/api/workflows/wf-replay/export", token: alice)
            #expect(export.status == 200)
            #expect(export.head.header("content-type") == "application/x-ndjson")
            let lines = export.body.split(separator: 0x0A)
            #expect(lines.count == log.count)
            var check = ExportChainCheck()
            for line in lines { check.check(bytes: Array(line)) }
            #expect(check.result.isIntact && check.result.events == log.count)
            #expect(try await h.call("GET", "/api/workflows/wf-replay/export", token: try await h.token("mallory")).status == 404)
            let admin = try await h.token("ops", role: .admin)
            let day = try await h.call("GET", "/admin/export?since=2000-01-01T00:00:00Z", token: admin)
            #expect(day.body.split(separator: 0x0A).count == log.count)
            #expect(try await h.call("GET", "/admin/export?since=yesterday", token: admin).errorCode == "invalid_time")
            #expect(try await h.call("GET", "/admin/export", token: alice).status == 403)
        }
    }

    @Test("Last-Event-ID: the header wins over the query, an invalid one is a 400, one beyond the head waits for it")
    func cursorRules() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 400, pace: .milliseconds(1))) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-cursor", token: alice)
            let path = ServiceHarness.base("wf-cursor") + "/stream?sessionId=\(session)&token=\(streamToken)"
            for bad in ["abc", "-1", "1.5", "99999999999"] {
                let reply = try await h.call("GET", path, headers: [("Last-Event-ID", bad)])
                #expect(reply.status == 400, "Last-Event-ID \(bad)")
                #expect(reply.errorCode == "invalid_last_event_id")
            }
            #expect(try await h.call("GET", path + "&lastEventId=x").status == 400)
            #expect(try await h.call("GET", path + "&from=7").errorCode == "invalid_from")
            _ = try await h.waitUntilEnded("wf-cursor", session: session, token: alice)
            let log = try await h.log(session)
            // Header 3 wins over query 1.
            let connection = try await SSEClient().connect(h.url + path + "&lastEventId=1", headers: [("Last-Event-ID", "3")])
            #expect(connection.events.first?.id == "4")
            #expect(connection.events.count == log.count - 3)
            let polyfill = try await SSEClient().connect(h.url + path + "&last_event_id=\(log.count - 2)")
            #expect(polyfill.events.map(\.id) == ["\(log.count - 1)", "\(log.count)"])
        }
    }
}

/// Counts calls from a Sendable closure.
final class Counter: Sendable {
    private let count = Mutex(0)
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
    var value: Int { count.withLock { $0 } }
}
