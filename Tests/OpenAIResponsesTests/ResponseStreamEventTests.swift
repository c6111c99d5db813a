import Foundation
import OpenAIResponses
import Testing
import TestSupport

@Suite("Responses API stream events, against streams recorded from the real API")
struct ResponseStreamEventTests {
    static func events(_ name: String) throws -> [ResponseStreamEvent] {
        try RecordedStreams.payloads(name).map(ResponseStreamEvent.decode)
    }

    @Test("sequence numbers are dense from 0 within each stream", arguments: RecordedStreams.names)
    func denseSequenceNumbers(name: String) throws {
        var expected = 0
        for event in try Self.events(name) {
            if event.type == "response.created" { expected = 0 }
            #expect(event.sequenceNumber == expected)
            expected += 1
        }
    }

    @Test("text deltas add up to the done text and to the completed response's text; citations slice it by code points")
    func webSearchStream() throws {
        let events = try Self.events("openai-web-search-tool.1")
        var text = ""
        var annotations: [Annotation] = []
        var doneText: String?
        var completed: ResponseObject?
        var searches: [String] = []
        var queries: [String] = []
        var actions: [String] = []
        for event in events {
            switch event.kind {
            case .outputTextDelta(_, _, _, let delta): text += delta
            case .annotationAdded(_, _, _, _, let annotation): annotations.append(annotation)
            case .outputTextDone(_, _, _, let whole): doneText = whole
            case .lifecycle(let response) where event.type == "response.completed": completed = response
            case .webSearchCall(let status, _, _): searches.append(status)
            case .outputItemDone(_, let item) where item.type == "web_search_call":
                if let query = item.action?.query { queries.append(query) }
                if let action = item.action?.type { actions.append(action) }
            default: break
            }
        }
        #expect(text == doneText)
        let response = try #require(completed)
        #expect(response.status == .completed)
        #expect(response.outputText == text)
        #expect(searches.filter { $0 == "completed" }.count == 6)
        #expect(actions == ["search", "search", "open_page", "find_in_page", "find_in_page", "find_in_page"])
        #expect(queries == ["tech news today December 5 2025", #"site:theverge.com "December 5, 2025" "technology""#])
        #expect(annotations.count == 12)
        #expect(response.citations == annotations.compactMap(\.urlCitation))
        for citation in response.citations {
            let cited = try #require(citation.citedText(in: text))
            #expect(cited.hasPrefix("(["), "\(cited)")
            #expect(cited.hasSuffix(")"), "\(cited)")
        }
        // Counting bytes instead of code points would cut the spans elsewhere: the text holds ’ and –.
        #expect(text.utf8.count != text.unicodeScalars.count)
    }

    @Test("the non-streamed response decodes to the same kind of object")
    func retrievedResponse() throws {
        let data = try Data(contentsOf: RecordedStreams.directory.appendingPathComponent("openai-web-search-tool.1.json"))
        let response = try JSONDecoder().decode(ResponseObject.self, from: data)
        #expect(response.status == .completed)
        #expect(!response.outputText.isEmpty)
        #expect(!response.citations.isEmpty)
        for citation in response.citations { #expect(citation.citedText(in: response.outputText) != nil) }
        #expect(response.output.filter { $0.type == "web_search_call" }.allSatisfy { $0.action?.query != nil || $0.action?.type != "search" })
    }

    @Test("an error event and the failed response that follows it")
    func errorStream() throws {
        let events = try Self.events("openai-error.1")
        #expect(events.map(\.type) == ["response.created", "response.in_progress", "error", "response.failed"])
        guard case .error(let code, let message, _) = events[2].kind else { Issue.record("no error event"); return }
        #expect(code == "insufficient_quota")
        #expect(message.contains("quota"))
        guard case .lifecycle(let failed) = events[3].kind else { Issue.record("no failed response"); return }
        #expect(failed.status == .failed)
        #expect(failed.error?.code == "insufficient_quota")
    }

    @Test("reasoning summary deltas are typed; other event types are kept, not dropped")
    func reasoningAndOthers() throws {
        let events = try Self.events("openai-reasoning-encrypted-content.1")
        let summary = events.compactMap { event -> String? in
            if case .reasoningSummaryDelta(_, _, _, let delta) = event.kind { return delta } else { return nil }
        }.joined()
        #expect(summary.hasPrefix("**Calcul"))
        let others = events.filter { if case .other = $0.kind { true } else { false } }
        #expect(others.contains { $0.type == "response.function_call_arguments.delta" })
        #expect(events.count == 110)
    }

    @Test("malformed events are errors that say what is wrong")
    func malformed() {
        #expect(throws: ResponsesError.self) { try ResponseStreamEvent.decode("not json") }
        #expect(throws: ResponsesError.self) { try ResponseStreamEvent.decode(#"{"type":"response.output_text.delta","sequence_number":3}"#) }
        #expect(throws: ResponsesError.self) { try ResponseStreamEvent.decode(#"{"sequence_number":3}"#) }
    }
}
