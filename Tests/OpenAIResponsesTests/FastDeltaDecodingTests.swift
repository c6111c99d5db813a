import Foundation
@testable import OpenAIResponses
import SimulatedProvider
import Testing
import TestSupport

/// The one-pass delta decoder must be the generic decoder, only faster: same
/// event for everything it reads, nil (the generic decoder decides) for
/// anything it does not vouch for.
@Suite("Provider deltas decoded in one pass agree with the generic decoder")
struct FastDeltaDecodingTests {
    static let deltaTypes: Set<String> = ["response.output_text.delta", "response.reasoning_summary_text.delta"]

    /// Every event decodes to what the generic decoder makes of it, and every delta takes the fast path.
    static func expectAgreement(_ payloads: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        for payload in payloads {
            let generic = try ResponseStreamEvent.decodeGenerically(payload)
            #expect(try ResponseStreamEvent.decode(payload) == generic, "\(payload.prefix(160))", sourceLocation: sourceLocation)
            if deltaTypes.contains(generic.type) {
                #expect(ResponseStreamEvent.fastDelta(Array(payload.utf8)) == generic, "delta missed the fast path: \(payload.prefix(160))", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("the streams recorded from the real API", arguments: RecordedStreams.names)
    func recorded(name: String) throws {
        let payloads = try RecordedStreams.payloads(name)
        try Self.expectAgreement(payloads)
        if name == "openai-web-search-tool.1" {
            #expect(payloads.filter { $0.contains(#""type":"response.output_text.delta""#) }.count > 100)
        }
    }

    @Test("the simulated provider's transcripts, hostile content included", arguments: [false, true])
    func simulated(hostile: Bool) throws {
        var spec = TranscriptSpec(outputLength: 4000)
        spec.hostile = hostile
        try Self.expectAgreement(Transcript(spec: spec, responseID: "resp_fast", model: "o3-deep-research", createdAt: 1_700_000_000).events)
    }

    /// Deltas with awkward text (escapes, control characters, astral scalars, RTL
    /// overrides), fields in any order, spacing and extra fields.
    @Test("generated deltas: any text, any field order, extra fields")
    func generated() throws {
        var random = SeededRandom(seed: 12)
        let alphabet: [String] = ["a", "é", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "\u{202E}", "😀", "𝄞", "’", "<script>", " "]
        for round in 0..<2_000 {
            let text = (0..<Int(random.next() % 24)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }.joined()
            let reasoning = round % 3 == 0
            var fields: [(String, String)] = [
                ("type", reasoning ? #""response.reasoning_summary_text.delta""# : #""response.output_text.delta""#),
                ("sequence_number", String(random.next() % 100_000)),
                ("item_id", Self.json("msg_\(random.next() % 1_000_000)")),
                ("output_index", String(random.next() % 40)),
                (reasoning ? "summary_index" : "content_index", String(random.next() % 4)),
                ("delta", Self.json(text)),
            ]
            if random.next() % 2 == 0 { fields.append(("logprobs", "[]")) }
            if random.next() % 2 == 0 { fields.append(("obfuscation", Self.json("x\(random.next())"))) }
            if random.next() % 4 == 0 { fields.append(("extra", "null")) }
            for index in stride(from: fields.count - 1, to: 0, by: -1) { fields.swapAt(index, Int(random.next() % UInt64(index + 1))) }
            let space = random.next() % 2 == 0 ? "" : " \n"
            let payload = "{" + space + fields.map { "\"\($0.0)\"\(space):\(space)\($0.1)" }.joined(separator: "," + space) + space + "}"
            try Self.expectAgreement([payload])
            #expect(ResponseStreamEvent.fastDelta(Array(payload.utf8)) != nil, "\(payload)")
        }
    }

    @Test("what the fast path does not vouch for goes to the generic decoder, errors included")
    func declines() throws {
        let base = #""type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0"#
        let declined = [
            "{\(base),\"delta\":\"a\",\"delta\":\"b\"}",          // a key twice
            "{\(base),\"delta\":\"a\",\"logprobs\":[1]}",          // a non-empty array
            "{\(base),\"delta\":\"a\",\"extra\":{\"k\":1}}",      // nesting
            "{\(base),\"delta\":\"a\",\"extra\":1.5}",            // a float
            "{\(base),\"delta\":\"a\",\"extra\":true}",           // a boolean
            "{\(base),\"delta\":\"a\",\"extra\":01}",             // a leading zero: not JSON
            "{\(base),\"delta\":\"\\ud800\"}",                    // a lone surrogate
            "{\(base),\"delta\":\"a\"} trailing",
            "{\(base),\"delta\":7}",                               // the wrong type
            "{\(base)}",                                           // no delta
        ]
        for payload in declined {
            #expect(ResponseStreamEvent.fastDelta(Array(payload.utf8)) == nil, "\(payload)")
            // Whatever the generic decoder makes of it, decode says the same.
            let generic = Result { try ResponseStreamEvent.decodeGenerically(payload) }
            let decoded = Result { try ResponseStreamEvent.decode(payload) }
            switch (generic, decoded) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(payload)")
            case (.failure, .failure): break
            default: Issue.record("decode and the generic decoder disagree on \(payload)")
            }
        }
    }

    static func json(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed]), as: UTF8.self).dropFirst().dropLast().description
    }
}
