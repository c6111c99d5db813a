import Foundation
import OpenAIResponses

/// A deterministic deep-research stream in the Responses API's wire format: the
/// same event types, field names and nesting as the streams recorded from the
/// real API (`Tests/Fixtures/openai-responses`), with citation indices counted
/// in Unicode code points as the provider counts them.
public struct Transcript: Sendable {
    /// The `data:` JSON of every stream event, `sequence_number` = index.
    public let events: [String]
    /// Each event's `type`, for the SSE `event:` line.
    public let eventTypes: [String]
    /// The final outline, as the deltas add up to.
    public let outputText: String
    /// Citations as (url, start, end) in code points of `outputText`.
    public let citations: [(url: String, title: String, start: Int, end: Int)]
    /// The completed response object's JSON (what a retrieve returns at the end).
    public let completedResponse: String
    public let responseID: String
    /// The model and creation time (Unix seconds) every response object of this run names.
    let envelope: ResponseEnvelope

    static let topics = ["tidal power", "grid storage", "offshore wind", "heat pumps", "district heating", "green hydrogen"]
    static let words = ["costs", "sites", "capacity", "policy", "efficiency", "maintenance", "supply", "demand", "research", "risks",
                        "Europe’s", "déjà-vu", "long–term", "investment", "storage", "turbines", "tariffs", "engineers"]

    public init(spec: TranscriptSpec, responseID: String, model: String, createdAt: Int) {
        var random = SeededRandom(seed: spec.seed)
        self.responseID = responseID
        var events: [[String: Any]] = []
        var output: [[String: Any]] = []
        let envelope = ResponseEnvelope(id: responseID, model: model, createdAt: createdAt, background: true, webSearch: model.contains("deep-research"))
        self.envelope = envelope
        func response(status: String, output: [[String: Any]], usage: Any = NSNull()) -> [String: Any] {
            envelope.object(status: status, output: output, usage: usage)
        }
        events.append(["type": "response.created", "response": response(status: "queued", output: [])])
        events.append(["type": "response.in_progress", "response": response(status: "in_progress", output: [])])
        let topic = Self.topics[Int(random.next() % UInt64(Self.topics.count))]
        var queries: [String] = []
        for step in 0..<max(spec.webSearches, spec.reasoningSummaries) {
            if step < spec.reasoningSummaries {
                let index = output.count
                let itemID = "rs_\(responseID.dropFirst(5))\(step)"
                let summary = "**Planning \(topic), step \(step + 1)**\n\nI will look at \(Self.words[step % Self.words.count]) and \(Self.words[(step + 3) % Self.words.count])."
                events.append(["type": "response.output_item.added", "output_index": index, "item": ["id": itemID, "type": "reasoning", "summary": []]])
                events.append(["type": "response.reasoning_summary_part.added", "item_id": itemID, "output_index": index, "summary_index": 0,
                               "part": ["type": "summary_text", "text": ""]])
                for piece in Self.split(summary, size: 8) {
                    events.append(["type": "response.reasoning_summary_text.delta", "item_id": itemID, "output_index": index, "summary_index": 0,
                                   "delta": piece, "obfuscation": "sim"])
                }
                events.append(["type": "response.reasoning_summary_text.done", "item_id": itemID, "output_index": index, "summary_index": 0, "text": summary])
                events.append(["type": "response.reasoning_summary_part.done", "item_id": itemID, "output_index": index, "summary_index": 0,
                               "part": ["type": "summary_text", "text": summary]])
                let item: [String: Any] = ["id": itemID, "type": "reasoning", "summary": [["type": "summary_text", "text": summary]]]
                events.append(["type": "response.output_item.done", "output_index": index, "item": item])
                output.append(item)
            }
            if step < spec.webSearches {
                let index = output.count
                let itemID = "ws_\(responseID.dropFirst(5))\(step)"
                let query = "\(topic) \(Self.words[Int(random.next() % UInt64(Self.words.count))]) \(2020 + step)"
                queries.append(query)
                // The SDKs' types require the action from the first mention of the call on.
                events.append(["type": "response.output_item.added", "output_index": index,
                               "item": ["id": itemID, "type": "web_search_call", "status": "in_progress", "action": ["type": "search", "query": query]]])
                for status in ["in_progress", "searching", "completed"] {
                    events.append(["type": "response.web_search_call.\(status)", "output_index": index, "item_id": itemID])
                }
                let item: [String: Any] = ["id": itemID, "type": "web_search_call", "status": "completed",
                                           "action": ["type": "search", "query": query, "sources": [["type": "url", "url": "https://example.org/\(step)"]]]]
                events.append(["type": "response.output_item.done", "output_index": index, "item": item])
                output.append(item)
            }
        }
        // The outline: headings and bullets, a citation after some bullets.
        var text = "# \(topic.capitalized): an outline\n\n"
        var citations: [(url: String, title: String, start: Int, end: Int)] = []
        if spec.hostile { Self.appendHostileContent(to: &text, citations: &citations) }
        var section = 0
        while text.unicodeScalars.count < spec.outputLength {
            section += 1
            text += "## \(section). \(Self.words[Int(random.next() % UInt64(Self.words.count))].capitalized)\n"
            for _ in 0..<3 {
                let count = 4 + Int(random.next() % 8)
                let bullet = (0..<count).map { _ in Self.words[Int(random.next() % UInt64(Self.words.count))] }.joined(separator: " ")
                text += "- \(bullet)"
                if random.next() % 3 == 0 {
                    let n = citations.count
                    let url = "https://example.org/source/\(spec.seed)/\(n)"
                    let link = " ([example.org](\(url)))"
                    let start = text.unicodeScalars.count + 1
                    text += link
                    citations.append((url, "Source \(n) on \(topic)", start, text.unicodeScalars.count))
                }
                text += "\n"
            }
            text += "\n"
        }
        let messageIndex = output.count
        let messageID = "msg_\(responseID.dropFirst(5))"
        events.append(["type": "response.output_item.added", "output_index": messageIndex,
                       "item": ["id": messageID, "type": "message", "status": "in_progress", "content": [], "role": "assistant"]])
        events.append(["type": "response.content_part.added", "item_id": messageID, "output_index": messageIndex, "content_index": 0,
                       "part": ["type": "output_text", "annotations": [], "logprobs": [], "text": ""]])
        var emitted = 0
        var nextCitation = 0
        var annotations: [[String: Any]] = []
        for piece in Self.split(text, size: spec.deltaSize) {
            events.append(["type": "response.output_text.delta", "item_id": messageID, "output_index": messageIndex, "content_index": 0,
                           "delta": piece, "logprobs": [], "obfuscation": "sim"])
            emitted += piece.unicodeScalars.count
            while nextCitation < citations.count, citations[nextCitation].end <= emitted {
                let citation = citations[nextCitation]
                let annotation: [String: Any] = ["type": "url_citation", "start_index": citation.start, "end_index": citation.end,
                                                 "title": citation.title, "url": citation.url]
                events.append(["type": "response.output_text.annotation.added", "item_id": messageID, "output_index": messageIndex,
                               "content_index": 0, "annotation_index": nextCitation, "annotation": annotation])
                annotations.append(annotation)
                nextCitation += 1
            }
        }
        let part: [String: Any] = ["type": "output_text", "annotations": annotations, "logprobs": [], "text": text]
        events.append(["type": "response.output_text.done", "item_id": messageID, "output_index": messageIndex, "content_index": 0, "text": text, "logprobs": []])
        events.append(["type": "response.content_part.done", "item_id": messageID, "output_index": messageIndex, "content_index": 0, "part": part])
        let message: [String: Any] = ["id": messageID, "type": "message", "status": "completed", "content": [part], "role": "assistant"]
        events.append(["type": "response.output_item.done", "output_index": messageIndex, "item": message])
        output.append(message)
        let usage = Self.usage(spec: spec, textBytes: text.utf8.count, jitter: Int(random.next() % 500))
        let completed = response(status: "completed", output: output, usage: usage)
        events.append(["type": "response.completed", "response": completed])

        self.eventTypes = events.map { $0["type"] as! String }
        self.events = events.enumerated().map { index, event in
            var event = event
            event["sequence_number"] = index
            return Self.json(event)
        }
        self.outputText = text
        self.citations = citations
        self.completedResponse = Self.json(completed)
    }

    /// Usage in the real API's shape, at the scale of a deep-research run: the
    /// pages each search brings into the context dominate the input (part of it
    /// served from the prompt cache), and reasoning dominates the output.
    static func usage(spec: TranscriptSpec, textBytes: Int, jitter: Int, fraction: Double = 1) -> [String: Any] {
        let input = Int(Double(2_400 + jitter + spec.webSearches * 9_000) * fraction)
        let cached = spec.webSearches > 0 ? input * 3 / 10 : 0
        let reasoning = Int(Double(spec.reasoningSummaries * 1_200 + spec.webSearches * 1_500) * fraction)
        let output = Int(Double(textBytes / 4) * fraction) + reasoning
        return ["input_tokens": input, "input_tokens_details": ["cached_tokens": cached, "cache_write_tokens": 0],
                "output_tokens": output, "output_tokens_details": ["reasoning_tokens": reasoning], "total_tokens": input + output]
    }

    /// A stream recorded from the real API, replayed as this response: the same
    /// bytes, with the recorded response id replaced by `responseID` so that
    /// resume, retrieve and cancel address this run.
    /// What `TranscriptSpec.hostile` adds before the outline: markup, script, links
    /// and citations that a page rendering HTML or trusting URLs would execute.
    static func appendHostileContent(to text: inout String, citations: inout [(url: String, title: String, start: Int, end: Int)]) {
        text += "## <img src=x onerror=\"window.__pwned='img'\"> <script>window.__pwned='script'</script> <b>bold?</b>\n"
        text += "- [click me](javascript:window.__pwned='markdown-link') and [data](data:text/html,<script>window.__pwned='data'</script>)\n"
        text += "- \u{202E}txet desrever\u{202C} \u{2067}isolate\u{2069} <iframe src=\"javascript:window.__pwned='iframe'\"></iframe>\n"
        text += "- " + String(repeating: "w", count: 6000) + "\n\n"
        let hostile: [(String, String)] = [
            ("javascript:window.__pwned='citation'", "<img src=x onerror=\"window.__pwned='title'\">"),
            ("JaVaScRiPt:window.__pwned='case'", "Mixed case"),
            ("data:text/html,<script>window.__pwned='data-citation'</script>", "Data URL"),
            ("vbscript:msgbox(1)", "VBScript"),
            (" javascript:window.__pwned='space'", "Leading space"),
            ("https://example.org/safe?q=<script>", "<script>window.__pwned='safe-title'</script> \u{202E}evil"),
        ]
        for (url, title) in hostile {
            let start = text.unicodeScalars.count
            text += "- \(title) [source](\(url))\n"
            citations.append((url, title, start, text.unicodeScalars.count - 1))
        }
        text += "\n"
    }

    public init(recorded payloads: [String], responseID: String) throws {
        func object(_ json: String) throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { throw TranscriptError.notAnObject }
            return object
        }
        guard let first = payloads.first, let recordedID = (try object(first)["response"] as? [String: Any])?["id"] as? String else {
            throw TranscriptError.noCreatedEvent
        }
        var events: [String] = []
        var types: [String] = []
        // Several responses in one recording: replay the first one only.
        for (index, payload) in payloads.enumerated() {
            let event = try object(payload)
            let type = event["type"] as? String ?? "message"
            if index > 0 && type == "response.created" { break }
            events.append(payload.replacingOccurrences(of: recordedID, with: responseID))
            types.append(type)
        }
        guard let last = events.last, let final = try object(last)["response"] as? [String: Any] else { throw TranscriptError.noFinalResponse }
        self.responseID = responseID
        self.envelope = ResponseEnvelope(id: responseID, model: final["model"] as? String ?? "o3-deep-research", createdAt: final["created_at"] as? Int ?? 0,
                                         background: final["background"] as? Bool ?? true, webSearch: true)
        self.events = events
        self.eventTypes = types
        self.completedResponse = Self.json(final)
        let parsed = try JSONDecoder().decode(ResponseObject.self, from: Data(self.completedResponse.utf8))
        self.outputText = parsed.outputText
        self.citations = parsed.citations.map { ($0.url, $0.title ?? "", $0.startIndex, $0.endIndex) }
    }

    public enum TranscriptError: Error {
        case notAnObject, noCreatedEvent, noFinalResponse
    }

    /// Pieces of `size` Unicode scalars (never splitting a scalar, as the API never does).
    static func split(_ text: String, size: Int) -> [String] {
        var pieces: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            current.append(scalar)
            if current.count >= size {
                pieces.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { pieces.append(String(current)) }
        return pieces
    }

    static func json(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }
}
