import Foundation
import OpenAIResponses
import Testing
import TestSupport

@Suite("Response objects: the fields the SDKs require are read too")
struct ResponseObjectFieldsTests {
    @Test("the recorded completed response's created_at, model, parallel_tool_calls, tool_choice and tools")
    func recordedFields() throws {
        let last = try #require(try RecordedStreams.payloads("openai-web-search-tool.1").last)
        let event = try ResponseStreamEvent.decode(last)
        guard case .lifecycle(let response) = event.kind else { Issue.record("not a lifecycle event"); return }
        #expect((response.createdAt ?? 0) > 1_700_000_000)
        #expect(response.model?.hasPrefix("gpt-5-mini") == true)
        #expect(response.parallelToolCalls != nil)
        #expect(response.toolChoice != nil)
        #expect(response.tools?.isEmpty == false)
    }

    @Test("odd values of those fields do not stop a response being read")
    func tolerant() throws {
        let json = #"{"id": "resp_1", "status": "completed", "output": [], "created_at": "soon", "parallel_tool_calls": 3, "tools": {"x": 1}, "tool_choice": null}"#
        let response = try JSONDecoder().decode(ResponseObject.self, from: Data(json.utf8))
        #expect(response.id == "resp_1" && response.createdAt == nil && response.parallelToolCalls == nil && response.tools == nil)
    }
}
