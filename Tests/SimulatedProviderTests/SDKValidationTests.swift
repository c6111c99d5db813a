import Foundation
import SimulatedProvider
import Testing
import TestSupport

/// The simulated provider as the official OpenAI Python SDK sees it: the SDK's
/// own client creates (streamed and not), retrieves, resumes with
/// `starting_after` and cancels against it, and every response object and
/// stream event is validated against the SDK's pydantic types
/// (`Tests/SDK/sdk_check.py`). A field the real API has and the simulator
/// lacked would fail here, not in production.
@Suite("The simulated provider against the official OpenAI SDK's types")
struct SDKValidationTests {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("SDK/sdk_check.py").path
    }

    @Test("every response object and stream event validates: create (streamed and background), retrieve, resume, cancel, failed and incomplete ends, a fast model")
    func validates() async throws {
        guard let python = ProcessInfo.processInfo.environment["OUTLINE_SDK_PYTHON"] else {
            Issue.record("the SDK check needs the official OpenAI SDK: run Tools/test.sh, or eval \"$(Tools/dev/sdk-deps.sh)\" first")
            return
        }
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(outputLength: 400, pace: .milliseconds(1))))
        defer { Task { await provider.stop() } }
        let (status, output) = try await runCollecting(python, [Self.script, provider.url], includeErrors: false)
        let text = String(decoding: output, as: UTF8.self)
        try #require(status == 0, "sdk_check.py exited \(status): \(text.suffix(2000))")
        let report = try #require(try JSONSerialization.jsonObject(with: Data((text.split(separator: "\n").last ?? "").utf8)) as? [String: Any])
        let failures = try #require(report["failures"] as? [[String: Any]])
        #expect(failures.isEmpty, "\(failures.count) objects the SDK rejects, first: \(failures.prefix(3))")
        #expect((report["checked"] as? Int ?? 0) > 200, "\(report["checked"] ?? 0) objects checked")
        #expect(report["retrieved_status"] as? String == "completed" && report["cancelled_status"] as? String == "cancelled")
        #expect(report["fail_status"] as? String == "failed" && report["incomplete_status"] as? String == "incomplete")
        #expect((report["resumed_events"] as? Int ?? 0) > 0 && (report["resumed_events"] as? Int ?? 0) < (report["streamed_events"] as? Int ?? 0))
        let types = try #require(report["types"] as? [String: Int])
        for type in ["response.created", "response.output_text.delta", "response.output_text.annotation.added", "response.web_search_call.completed",
                     "response.reasoning_summary_text.delta", "response.completed", "response.failed", "response.incomplete"] {
            #expect(types[type] != nil, "no \(type) was served")
        }
    }
}
