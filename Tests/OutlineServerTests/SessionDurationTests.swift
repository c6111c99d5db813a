import EventLog
import Foundation
import PostgresClient
import SimulatedProvider
import Testing
import TestSupport

/// Issue 15 point 6: the page's estimate of the time left comes from how long
/// the last completed sessions took, as `/api/session-durations` reports it.
@Suite("Session durations: the figures behind the page's estimate")
struct SessionDurationTests {
    @Test("median and p90 of the completed sessions (by mode too), nulls before any completed, 400 on a bad mode, 401 without a token")
    func figures() async throws {
        try await ServiceHarness.with(spec: TranscriptSpec(outputLength: 300, pace: .milliseconds(1))) { h in
            let alice = try await h.token("alice")
            let empty = try await h.call("GET", "/api/session-durations", token: alice)
            #expect(empty.status == 200 && empty.json?["completedSessions"] as? Int == 0, "\(empty.text)")
            #expect(empty.json?["medianSeconds"] is NSNull && empty.json?["p90Seconds"] is NSNull, "\(empty.text)")
            for index in 0..<3 {
                let (session, _) = try await h.startStreaming("wf-durations-\(index)", token: alice)
                _ = try await h.waitUntilEnded("wf-durations-\(index)", session: session, token: alice)
            }
            let seconds = try await h.pool.query(
                "SELECT extract(epoch FROM completed_at - started_at)::float8 FROM outline_session_rows WHERE status = 'completed' ORDER BY 1"
            ).map { try $0.decode(Double.self, at: 0) }
            try #require(seconds.count == 3)
            let reply = try await h.call("GET", "/api/session-durations?mode=streaming", token: alice)
            #expect(reply.status == 200 && reply.json?["completedSessions"] as? Int == 3, "\(reply.text)")
            #expect(abs((reply.json?["medianSeconds"] as? Double ?? -1) - seconds[1]) < 1e-6, "\(reply.text) vs \(seconds)")
            // percentile_cont: 90 % of the way from the second to the third.
            #expect(abs((reply.json?["p90Seconds"] as? Double ?? -1) - (seconds[1] + 0.8 * (seconds[2] - seconds[1]))) < 1e-6, "\(reply.text) vs \(seconds)")
            #expect(reply.json?["mode"] as? String == "streaming" && reply.json?["windowDays"] as? Int == 30 && reply.json?["sample"] as? Int == 100)
            let polling = try await h.call("GET", "/api/session-durations?mode=polling", token: alice)
            #expect(polling.json?["completedSessions"] as? Int == 0 && polling.json?["medianSeconds"] is NSNull, "\(polling.text)")
            let bad = try await h.call("GET", "/api/session-durations?mode=batch", token: alice)
            #expect(bad.status == 400 && bad.errorCode == "invalid_mode", "\(bad.text)")
            #expect(try await h.call("GET", "/api/session-durations").status == 401)
        }
    }
}
