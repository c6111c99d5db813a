import Foundation
import ProviderHTTP
import Testing
import TestSupport

@Suite("HTTP over libcurl, against a real server on loopback")
struct CurlHTTPClientTests {
    static func response(status: Int = 200, headers: [String] = [], body: String) -> String {
        "HTTP/1.1 \(status) X\r\nContent-Length: \(body.utf8.count)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n" + body
    }

    @Test("POST sends headers and body; the response comes back whole")
    func postRoundTrip() async throws {
        let server = try LoopbackServer { _, body in [.write(Self.response(headers: ["X-Echo: yes"], body: "got \(body)"))] }
        defer { server.stop() }
        let (head, body) = try await CurlHTTPClient().send(HTTPRequest(
            method: "POST", url: server.url + "/v1/responses", headers: [("Authorization", "Bearer sk-test"), ("Content-Type", "application/json")],
            body: Array(#"{"a":"é"}"#.utf8)))
        #expect(head.status == 200)
        #expect(head.header("x-echo") == "yes")
        #expect(String(decoding: body, as: UTF8.self) == #"got {"a":"é"}"#)
        let request = try #require(server.received.first)
        #expect(request.head.hasPrefix("POST /v1/responses HTTP/1.1"))
        #expect(request.head.contains("Authorization: Bearer sk-test"))
        #expect(!request.head.lowercased().contains("expect: 100-continue"))
    }

    @Test("a streamed body arrives in pieces as the server writes them")
    func streamsIncrementally() async throws {
        let server = try LoopbackServer { _, _ in
            [.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")]
                + (0..<5).flatMap { i -> [LoopbackServer.Step] in
                    let piece = "data: \(i)\n\n"
                    return [.write(String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n"), .pause(milliseconds: 50)]
                } + [.write("0\r\n\r\n")]
        }
        defer { server.stop() }
        var pieces: [String] = []
        var status = 0
        for try await part in CurlHTTPClient().stream(HTTPRequest(url: server.url + "/stream")) {
            switch part {
            case .head(let head): status = head.status
            case .body(let bytes): pieces.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        #expect(status == 200)
        #expect(pieces.joined() == (0..<5).map { "data: \($0)\n\n" }.joined())
        #expect(pieces.count >= 3) // delivered as written, not collected at the end
    }

    @Test("error statuses are responses, not transport failures")
    func errorStatus() async throws {
        let server = try LoopbackServer { _, _ in [.write(Self.response(status: 429, headers: ["Retry-After: 2"], body: #"{"error":{"message":"slow down"}}"#))] }
        defer { server.stop() }
        let (head, _) = try await CurlHTTPClient().send(HTTPRequest(url: server.url))
        #expect(head.status == 429)
        #expect(head.header("Retry-After") == "2")
    }

    @Test("a connection cut mid-body is a transport error")
    func cutConnection() async throws {
        let server = try LoopbackServer { _, _ in
            [.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial"), .pause(milliseconds: 20), .cut]
        }
        defer { server.stop() }
        await #expect(throws: HTTPTransferError.self) { try await CurlHTTPClient().send(HTTPRequest(url: server.url)) }
    }

    @Test("a stalled stream is aborted after the stall timeout")
    func stall() async throws {
        let server = try LoopbackServer { _, _ in
            [.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), .pause(milliseconds: 60_000)]
        }
        defer { server.stop() }
        let started = ContinuousClock.now
        await #expect(throws: HTTPTransferError.stalled) {
            try await CurlHTTPClient().send(HTTPRequest(url: server.url, stallTimeout: .seconds(1)))
        }
        // The server stalls for 60 s: ending well before that is the stall timeout, even on a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("a refused connection fails quickly with curl's reason")
    func refused() async throws {
        let server = try LoopbackServer { _, _ in [] }
        let url = server.url
        server.stop()
        do {
            _ = try await CurlHTTPClient().send(HTTPRequest(url: url, connectTimeout: .seconds(2)))
            Issue.record("a closed port answered")
        } catch let error as HTTPTransferError {
            guard case .transport(let code, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(code == 7) // CURLE_COULDNT_CONNECT
        }
    }

    @Test("cancelling the caller's task aborts its transfer, long before the server would end it")
    func cancellation() async throws {
        let server = try LoopbackServer { _, _ in
            [.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), .pause(milliseconds: 60_000)]
        }
        defer { server.stop() }
        let task = Task { try await CurlHTTPClient().send(HTTPRequest(url: server.url)) }
        try await Deadline.wait(for: "the request to reach the server", within: .seconds(30)) { !server.received.isEmpty }
        let started = ContinuousClock.now
        task.cancel()
        await #expect(throws: (any Error).self) { try await task.value }
        // The server holds the response open for 60 s: ending well before that is the abort.
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("200 concurrent streams share the one transfer thread")
    func manyConcurrent() async throws {
        let server = try LoopbackServer { _, _ in [.pause(milliseconds: 100), .write(Self.response(body: "ok"))] }
        defer { server.stop() }
        let bodies = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<200 {
                group.addTask { String(decoding: try await CurlHTTPClient().send(HTTPRequest(url: server.url)).body, as: UTF8.self) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(bodies.count == 200 && bodies.allSatisfy { $0 == "ok" })
    }
}
