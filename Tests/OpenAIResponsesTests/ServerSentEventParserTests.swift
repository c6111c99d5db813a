import Foundation
import OpenAIResponses
import SimulatedProvider
import Testing
import TestSupport

@Suite("Server-Sent Events parser")
struct ServerSentEventParserTests {
    static func parse(_ bytes: [UInt8], chunkSizes: () -> Int) -> [ServerSentEvent] {
        var parser = ServerSentEventParser()
        var events: [ServerSentEvent] = []
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + max(1, chunkSizes()))
            events += parser.feed(bytes[index..<end])
            index = end
        }
        return events + parser.finish()
    }

    @Test("every recorded stream parses to the same events whole, byte by byte and in random chunks", arguments: RecordedStreams.names)
    func anyChunking(name: String) throws {
        let payloads = try RecordedStreams.payloads(name)
        let awkward = RecordedStreams.awkwardSSE(payloads)
        for (bytes, data) in [(RecordedStreams.sse(payloads), payloads), (RecordedStreams.sse(payloads, lineEnding: "\r\n"), payloads),
                              (RecordedStreams.sse(payloads, lineEnding: "\r"), payloads), awkward] {
            let whole = Self.parse(bytes) { bytes.count }
            #expect(whole.map(\.data) == data)
            // JSON split over two data lines still decodes to the same events.
            let decoded = try whole.map { try ResponseStreamEvent.decode($0.data) }
            let original = try payloads.map(ResponseStreamEvent.decode)
            #expect(decoded.map(\.type) == original.map(\.type))
            #expect(decoded.map(\.sequenceNumber) == original.map(\.sequenceNumber))
            #expect(whole.map(\.event) == payloads.map(RecordedStreams.type))
            #expect(Self.parse(bytes) { 1 } == whole)
            var generator = SeededRandom(seed: UInt64(bytes.count))
            for _ in 0..<5 {
                #expect(Self.parse(bytes) { Int.random(in: 1...97, using: &generator) } == whole)
            }
        }
    }

    @Test("fields, comments, ids, retry and multi-line data follow the WHATWG rules")
    func fieldRules() {
        var parser = ServerSentEventParser()
        let events = parser.feed(Array("""
            : comment\nid: 7\nretry: 1500\ndata: first\ndata:second\ndata\n\nevent: custom\ndata:  two spaces\n\nid: 8\n\ndata: after id\n\n
            """.utf8))
        #expect(events == [
            ServerSentEvent(event: nil, data: "first\nsecond\n", id: "7", retry: 1500),
            ServerSentEvent(event: "custom", data: " two spaces", id: "7"),
            ServerSentEvent(event: nil, data: "after id", id: "8"),
        ])
    }

    @Test("a CR at the end of one chunk and an LF at the start of the next are one line ending")
    func splitCRLF() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("data: a\r".utf8)) == [])
        #expect(parser.feed(Array("\n\r".utf8)) == [ServerSentEvent(data: "a")])
        #expect(parser.feed(Array("\ndata: b\r\n\r\n".utf8)) == [ServerSentEvent(data: "b")])
    }

    @Test("a stream cut mid-line dispatches nothing half-read until finish")
    func cutMidLine() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("data: {\"a\":".utf8)) == [])
        #expect(parser.finish() == [ServerSentEvent(data: "{\"a\":")])
        var empty = ServerSentEventParser()
        #expect(empty.finish() == [])
    }
}
