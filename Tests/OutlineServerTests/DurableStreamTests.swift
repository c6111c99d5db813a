import EventLog
import Foundation
import OpenAIResponses
import Synchronization
import SimulatedProvider
import Testing
import TestSupport
@testable import OutlineServer

/// Issue 15 point 1: a session read as a Durable Stream (protocol 1.0, read
/// side, JSON mode). Each test names the case of the protocol's
/// language-neutral conformance suite (`packages/client-conformance-tests/
/// test-cases/` of durable-streams/durable-streams) it carries over to a
/// read-only server: what a reader following the protocol must observe.
@Suite("Sessions as Durable Streams")
struct DurableStreamTests {
    static func path(_ session: String) -> String { "/api/sessions/\(session)/durable-stream" }

    /// The sequences and types of a JSON-mode body (an array of messages).
    static func messages(_ body: [UInt8]) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]], "not a JSON array: \(String(decoding: body.prefix(200), as: UTF8.self))")
    }

    static func token(_ sequence: Int) -> String { String(format: "%010d", sequence) }

    /// The messages of an SSE read: the data events' arrays, in order, and the control events.
    static func sseRead(_ stream: SSEClient.Connection) throws -> (messages: [[String: Any]], controls: [[String: Any]]) {
        var messages: [[String: Any]] = [], controls: [[String: Any]] = []
        for event in stream.events {
            let value = try JSONSerialization.jsonObject(with: Data(event.data.utf8))
            switch event.event {
            case "data": messages += try #require(value as? [[String: Any]])
            case "control": controls.append(try #require(value as? [String: Any]))
            default: Issue.record("unexpected SSE event \(event.event)")
            }
        }
        return (messages, controls)
    }

    @Test("a finished session: HEAD metadata, catch-up from -1, from the start and from any offset (offset-handling, message-ordering, offset-resumption), chunked reads equal one read (streaming-equivalence), now, ETag and 304, closed at the tail (stream-closure), long-poll and SSE on a closed stream end at once")
    func finishedSession() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 16000, pace: .zero), configure: { $0.compaction.interval = nil }) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-durable", token: alice)
            _ = try await h.waitUntilEnded("wf-durable", session: session, token: alice)
            let log = try await h.log(session)
            let path = Self.path(session)

            // HEAD (stream-lifecycle, head-closed-stream).
            let head = try await h.call("HEAD", path, token: alice)
            #expect(head.status == 200 && head.body.isEmpty)
            #expect(head.head.header("content-type") == "application/json")
            #expect(head.head.header("stream-next-offset") == Self.token(log.count))
            #expect(head.head.header("stream-closed") == "true")
            #expect(head.head.header("cache-control") == "no-store")

            // Catch-up from the beginning: -1 and no offset are the same read.
            let first = try await h.call("GET", path + "?offset=-1", token: alice)
            #expect(first.status == 200 && first.head.header("content-type") == "application/json")
            let omitted = try await h.call("GET", path, token: alice)
            #expect(omitted.body == first.body)
            let firstMessages = try Self.messages(first.body)
            #expect(firstMessages.count == min(log.count, 1000))
            for (message, event) in zip(firstMessages, log) {
                #expect(message["sequence"] as? Int == Int(event.sequence) && message["type"] as? String == event.eventType)
            }
            // Chunked: follow Stream-Next-Offset until up to date; the messages are the log, once each, in order.
            try #require(log.count > 1000, "the session must span several chunks (it has \(log.count) events)")
            #expect(first.head.header("stream-up-to-date") == nil && first.head.header("stream-closed") == nil)
            var offset = "-1", all: [[String: Any]] = [], reads = 0
            while true {
                let reply = try await h.call("GET", path + "?offset=\(offset)", token: alice)
                #expect(reply.status == 200)
                all += try Self.messages(reply.body)
                offset = try #require(reply.head.header("stream-next-offset"))
                reads += 1
                if reply.head.header("stream-up-to-date") == "true" {
                    #expect(reply.head.header("stream-closed") == "true")
                    break
                }
                try #require(reads < 100)
            }
            #expect(reads == (log.count + 999) / 1000)
            #expect(all.compactMap { $0["sequence"] as? Int } == log.map { Int($0.sequence) })
            #expect(offset == Self.token(log.count))
            // Each payload is the stored JSON.
            let stored = try #require(log.first { $0.eventType == "output_text.delta" })
            let message = try #require(all.first { $0["sequence"] as? Int == Int(stored.sequence) })
            let payload = try JSONSerialization.jsonObject(with: Data(stored.json)) as? [String: Any]
            #expect((message["payload"] as? [String: Any])?["delta"] as? String == payload?["delta"] as? String)

            // From any offset: exactly the events after it.
            for after in [1, 2, log.count / 2, log.count - 1] {
                let reply = try await h.call("GET", path + "?offset=\(Self.token(after))", token: alice)
                let sequences = try Self.messages(reply.body).compactMap { $0["sequence"] as? Int }
                #expect(sequences.first == after + 1, "after \(after)")
                #expect(sequences == Array((after + 1)...min(log.count, after + 1000)), "after \(after)")
            }

            // At the tail of an ended session: empty, up to date, closed (read-closed-stream-empty-eof), cacheable.
            let tail = try await h.call("GET", path + "?offset=\(Self.token(log.count))", token: alice)
            #expect(tail.status == 200 && tail.text == "[]")
            #expect(tail.head.header("stream-up-to-date") == "true" && tail.head.header("stream-closed") == "true")
            #expect(tail.head.header("stream-next-offset") == Self.token(log.count))
            #expect(tail.head.header("cache-control")?.hasPrefix("private") == true)

            // now (offset-handling: offset=now): no messages, the tail, never cached.
            let now = try await h.call("GET", path + "?offset=now", token: alice)
            #expect(now.status == 200 && now.text == "[]")
            #expect(now.head.header("stream-next-offset") == Self.token(log.count) && now.head.header("stream-up-to-date") == "true")
            #expect(now.head.header("cache-control") == "no-store" && now.head.header("etag") == nil)

            // ETag and If-None-Match.
            let etag = try #require(first.head.header("etag"))
            let again = try await h.call("GET", path + "?offset=-1", token: alice, headers: [("If-None-Match", etag)])
            #expect(again.status == 304 && again.body.isEmpty)
            #expect(try await h.call("GET", path + "?offset=-1", token: alice, headers: [("If-None-Match", "\"other\"")]).status == 200)

            // long-poll at the tail of a closed stream returns at once (long-poll-closed-stream-immediate).
            let poll = try await h.call("GET", path + "?offset=\(Self.token(log.count))&live=long-poll", token: alice)
            #expect(poll.status == 204)
            #expect(poll.head.header("stream-closed") == "true" && poll.head.header("stream-up-to-date") == "true")
            #expect(poll.head.header("stream-cursor") != nil)
            // long-poll with data: 200, with a cursor.
            let polled = try await h.call("GET", path + "?offset=\(Self.token(log.count - 3))&live=long-poll", token: alice)
            let polledMessages = try Self.messages(polled.body)
            // A live read without an offset (the protocol asks for one) reads from the beginning.
            let fromStart = try await h.call("GET", path + "?live=long-poll", token: alice)
            #expect(try Self.messages(fromStart.body).first?["sequence"] as? Int == 1)
            #expect(polled.status == 200 && polledMessages.count == 3 && polled.head.header("stream-cursor") != nil)

            // SSE on a closed stream (sse-closed-stream-final-event): every message, then a final control that closes; the server ends.
            let sse = try await SSEClient().connect(h.url + path + "?offset=-1&live=sse&token=\(streamToken)")
            #expect(sse.status == 200 && sse.contentType?.hasPrefix("text/event-stream") == true && sse.endedByServer)
            let (messages, controls) = try Self.sseRead(sse)
            #expect(messages.compactMap { $0["sequence"] as? Int } == log.map { Int($0.sequence) })
            #expect(controls.last?["streamClosed"] as? Bool == true && controls.last?["streamNextOffset"] as? String == Self.token(log.count))
            #expect(controls.dropLast().allSatisfy { $0["streamCursor"] is String && $0["streamClosed"] == nil })
            #expect(sse.events.count == controls.count * 2, "a control event after every data event")
            // SSE from now on an ended session: one control, closed.
            let nowSSE = try Self.sseRead(try await SSEClient().connect(h.url + path + "?offset=now&live=sse", headers: [("Authorization", "Bearer \(alice)")]))
            #expect(nowSSE.messages.isEmpty && nowSSE.controls.count == 1 && nowSSE.controls[0]["streamClosed"] as? Bool == true)
        }
    }

    @Test("bad input (error-handling, input-validation): malformed offsets, an offset past an ended session's tail, an unknown live mode, a bad timeout: 400 naming the problem; unknown or another user's session 404; no token 401")
    func badInput() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 200, pace: .zero), configure: { $0.compaction.interval = nil }) { h in
            let alice = try await h.token("alice")
            let (session, _) = try await h.startStreaming("wf-durable-bad", token: alice)
            _ = try await h.waitUntilEnded("wf-durable-bad", session: session, token: alice)
            let count = try await h.log(session).count
            let path = Self.path(session)
            for (query, code) in [("offset=abc", "invalid_offset"), ("offset=12", "invalid_offset"), ("offset=00000000001", "invalid_offset"),
                                  ("offset=-2", "invalid_offset"), ("offset=9999999999", "invalid_offset"), ("offset=%2B000000001", "invalid_offset"),
                                  ("offset=", "invalid_offset"), ("offset=\(Self.token(count + 1))", "offset_beyond_tail"),
                                  ("offset=-1&live=websocket", "invalid_live"),
                                  ("offset=-1&live=long-poll&timeout=61", "invalid_timeout"), ("offset=-1&live=long-poll&timeout=1e9", "invalid_timeout")] {
                let reply = try await h.call("GET", path + "?" + query, token: alice)
                #expect(reply.status == 400, "\(query): \(reply.status) \(reply.text)")
                #expect(reply.errorCode == code, "\(query): \(reply.text)")
                #expect(((reply.json?["error"] as? [String: Any])?["message"] as? String)?.isEmpty == false, "\(query)")
            }
            #expect(try await h.call("GET", Self.path(UUID().uuidString) + "?offset=-1", token: alice).status == 404)
            #expect(try await h.call("HEAD", Self.path(UUID().uuidString), token: alice).status == 404)
            #expect(try await h.call("GET", path + "?offset=-1", token: try await h.token("mallory")).status == 404)
            #expect(try await h.call("GET", Self.path("not-a-uuid"), token: alice).errorCode == "invalid_session_id")
            #expect(try await h.call("GET", path + "?offset=-1").status == 401)
            #expect(try await h.call("POST", path, token: alice, json: ["x": 1]).status == 405)
        }
    }

    @Test("a live session: HEAD and catch-up are up to date but open (state-caught-up-open), a long-poll times out with 204 and wakes on new data (read-longpoll), SSE from now signals up-to-date then streams (read-sse), and readers that hang up and resume from their last offset, by SSE and by long-poll, see every event exactly once up to the close")
    func liveSession() async throws {
        try await ServiceHarness.with(spec: .init(outputLength: 3000, pace: .zero), faults: [.holdAt(events: 5)], configure: { $0.compaction.interval = nil }) { h in
            let alice = try await h.token("alice")
            let (session, streamToken) = try await h.startStreaming("wf-durable-live", token: alice)
            let path = Self.path(session)
            // Held by the simulated provider: once the provider says its stream sent
            // everything before the hold, wait until the log stops growing (the
            // stream's keep-alives hold it open; nothing more comes until the release).
            try await Deadline.wait(for: "the provider's stream to reach its hold", within: .seconds(120)) {
                await h.provider.state.streamsReachedHold(session: session.lowercased())
            }
            var held = 0
            let deadline = ContinuousClock.now + .seconds(120)
            while true {
                let head = try await h.call("HEAD", path, token: alice)
                #expect(head.status == 200 && head.head.header("stream-closed") == nil)
                let now = Int(head.head.header("stream-next-offset") ?? "") ?? 0
                if now > 0 {
                    try await Task.sleep(for: .seconds(1))
                    let settled = Int(try await h.call("HEAD", path, token: alice).head.header("stream-next-offset") ?? "") ?? 0
                    if settled == now { held = now; break }
                }
                try #require(ContinuousClock.now < deadline, "the session's log did not settle at the provider's hold")
                try await Task.sleep(for: .milliseconds(100))
            }
            let tail = held
            let caughtUp = try await h.call("GET", path + "?offset=-1", token: alice)
            #expect(try Self.messages(caughtUp.body).count == tail)
            #expect(caughtUp.head.header("stream-up-to-date") == "true" && caughtUp.head.header("stream-closed") == nil)
            #expect(caughtUp.head.header("cache-control") == "no-store", "the tail of a live stream is never cached")

            // A long-poll with nothing new: 204, up to date, the same offset, a cursor; an echoed cursor moves forward.
            let idle = try await h.call("GET", path + "?offset=\(Self.token(tail))&live=long-poll&timeout=1", token: alice)
            #expect(idle.status == 204 && idle.head.header("stream-up-to-date") == "true" && idle.head.header("stream-closed") == nil)
            #expect(idle.head.header("stream-next-offset") == Self.token(tail))
            let cursor = try #require(idle.head.header("stream-cursor").flatMap { Int($0) })
            let echoed = try await h.call("GET", path + "?offset=\(Self.token(tail))&live=long-poll&timeout=0&cursor=\(cursor)", token: alice)
            #expect(echoed.status == 204 && (echoed.head.header("stream-cursor").flatMap { Int($0) } ?? 0) > cursor)

            // Readers waiting at the tail: a long-poll, an SSE from now, and an SSE reader that resumes.
            async let woken = h.call("GET", path + "?offset=\(Self.token(tail))&live=long-poll&timeout=60", token: alice)
            let admitted = Mutex(false)
            async let fromNow = SSEClient().connect(h.url + path + "?offset=now&live=sse&token=\(streamToken)", stop: { event in
                if event.event == "control" { admitted.withLock { $0 = true } }
                return false
            })
            // An SSE reader that hangs up after every data event (once its control event came) and resumes from that control's offset.
            let resumingConnections = Counter()
            async let resuming = Self.resumingReader(h.url + path, token: streamToken, connectionsMade: resumingConnections)
            // Release only once the reader from "now" has its first control event:
            // "now" is where the log stood when it was admitted, so a reader admitted
            // after the release would start later (a loaded machine took more than
            // 500 ms to connect). The other two name their offset: late, they read the log.
            try await Deadline.wait(for: "the SSE reader from now to be admitted", within: .seconds(120)) { admitted.withLock { $0 } }
            // And once the resuming reader has read the backlog and reconnected at the tail:
            // released before, it could read the whole session in one connection.
            try await Deadline.wait(for: "the resuming reader to reach the tail", within: .seconds(120)) { resumingConnections.value >= 2 }
            await h.provider.state.releaseAll()
            let woke = try await woken
            #expect(woke.status == 200)
            #expect(try Self.messages(woke.body).first?["sequence"] as? Int == tail + 1)
            _ = try await h.waitUntilEnded("wf-durable-live", session: session, token: alice)
            let log = try await h.log(session)
            let live = try Self.sseRead(try await fromNow)
            #expect(live.controls.first?["upToDate"] as? Bool == true && live.controls.first?["streamNextOffset"] as? String == Self.token(tail))
            #expect(live.messages.compactMap { $0["sequence"] as? Int } == Array((tail + 1)...log.count))
            #expect(live.controls.last?["streamClosed"] as? Bool == true)

            let (connections, seen) = try await resuming
            #expect(connections > 1)
            #expect(seen == log.map { Int($0.sequence) }, "every event exactly once across \(connections) SSE connections")
            var offset = "-1"
            // The same by long-poll, one request after another.
            var polledSequences: [Int] = []
            while true {
                let reply = try await h.call("GET", path + "?offset=\(offset)&live=long-poll&timeout=1", token: alice)
                if reply.status == 200 { polledSequences += try Self.messages(reply.body).compactMap { $0["sequence"] as? Int } }
                offset = try #require(reply.head.header("stream-next-offset"))
                if reply.head.header("stream-closed") == "true" { break }
                try #require(reply.status == 200, "a long-poll before the end answered \(reply.status)")
            }
            #expect(polledSequences == log.map { Int($0.sequence) })
        }
    }

    /// Reads the stream over as many SSE connections as it takes, each ended by the
    /// client after one data event and its control; returns how many and what it saw.
    static func resumingReader(_ url: String, token: String, connectionsMade: Counter? = nil) async throws -> (connections: Int, sequences: [Int]) {
        var offset = "-1", seen: [Int] = [], connections = 0
        while connections < 10_000 {
            connections += 1
            _ = connectionsMade?.next()
            let sawData = Mutex(false)
            let stream = try await SSEClient().connect(url + "?offset=\(offset)&live=sse&token=\(token)", stop: { event in
                if event.event == "data" { sawData.withLock { $0 = true } }
                return event.event == "control" && sawData.withLock { $0 }
            })
            let (messages, controls) = try sseRead(stream)
            seen += messages.compactMap { $0["sequence"] as? Int }
            offset = try #require(controls.last?["streamNextOffset"] as? String)
            if controls.last?["streamClosed"] as? Bool == true { break }
        }
        return (connections, seen)
    }

    @Test("the offset token: ten digits that sort as the sequences do and parse back, never a sentinel; cursors move forward past an echoed one")
    func offsetTokens() throws {
        let sequences: [Int32] = [0, 1, 9, 10, 99, 100, 12345, Int32.max]
        let tokens = sequences.map(DurableStreamOffset.token)
        #expect(tokens == tokens.sorted())
        #expect(tokens.allSatisfy { $0.utf8.count == 10 && $0 != "-1" && $0 != "now" })
        #expect(try tokens.map { try DurableStreamOffset.parse($0) } == sequences.map { .after($0) })
        #expect(try DurableStreamOffset.parse("-1") == .after(0) && DurableStreamOffset.parse("now") == .now && DurableStreamOffset.parse(nil) == nil)
        for bad in ["", "1", "2147483648", "-0000000001", "00000000a1", "０００００００００１", "0000000001 "] {
            #expect(throws: APIError.self, "\(bad.debugDescription)") { try DurableStreamOffset.parse(bad) }
        }
        let current = try #require(Int(DurableStreamCursor.next(echoed: nil)))
        #expect(Int(DurableStreamCursor.next(echoed: "garbage")) == current)
        #expect(Int(DurableStreamCursor.next(echoed: String(current - 5))) == current)
        let ahead = try #require(Int(DurableStreamCursor.next(echoed: String(current + 7))))
        #expect(ahead > current + 7 && ahead <= current + 7 + 180)
    }
}
