import Foundation
import OpenAIResponses
import OutlineAuth
import PostgresClient
import ProviderHTTP
import SimulatedProvider

/// V2 sessions polled versus completed by webhook, on the real server: how
/// long after the provider's response ends the session ends, and how many
/// times the provider is asked. The same sessions twice: once polling every
/// 5 s (the old system's rhythm, no webhook secret), once with signed webhooks
/// from the simulated provider (the fallback poll every 300 s).
struct V2Scenario {
    let base: ConnectionSettings
    let serverBinary: String
    let sessions: Int
    /// How long each research run takes at the provider.
    let runSeconds: Int

    func run() async throws {
        let pace = max(1, runSeconds * 1000 / 45)   // a transcript of this spec has ~45 events
        print("# \(sessions) V2 sessions at once, the provider's pace \(pace) ms between events (outline 300 characters)")
        for webhooks in [false, true] {
            let secret = SimulatedWebhooks.newSecret()
            let environment = webhooks ? ["OPENAI_WEBHOOK_SECRET": secret] : [:]
            try await ServiceRun(base: base, serverBinary: serverBinary, paceMs: pace, outputLength: 300, environment: environment) { parts in
                if webhooks {
                    await parts.provider.state.configureWebhooks(SimulatedWebhooks(url: parts.stack.url + "/webhooks/openai", secret: try StandardWebhook.Secret(secret)))
                }
                let token = try await parts.signer.sign(AccessToken(subject: "load", role: .user, expiresAt: Date().addingTimeInterval(3600)))
                let http = CurlHTTPClient()
                var ids: [String] = []
                for index in 0..<sessions {
                    let (head, reply) = try await http.send(HTTPRequest(
                        method: "POST", url: parts.stack.url + "/api/workflows/v2-\(index)/outline-generation/start-v2",
                        headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                        body: Array(#"{"prompt": "Tidal energy in Europe", "skipClarification": true}"#.utf8)))
                    guard head.status == 201, let object = try JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any], let id = object["sessionId"] as? String else {
                        throw LoadError("start-v2 answered \(head.status): \(String(decoding: reply, as: UTF8.self))")
                    }
                    ids.append(id)
                }
                let deadline = ContinuousClock.now + .seconds(runSeconds * 4 + 120)
                while try await parts.pool.query("SELECT count(*) FROM outline_session_rows WHERE is_active")[0].decode(Int64.self, at: 0) > 0 {
                    guard ContinuousClock.now < deadline else { throw LoadError("V2 sessions did not end in time") }
                    try await Task.sleep(for: .milliseconds(100))
                }
                var lags: [Double] = [], retrieves = 0, polls = 0, completed = 0
                for row in try await parts.pool.query("SELECT background_response_id, completed_at, polling_attempts, status FROM outline_session_rows") {
                    guard let response = try row.decode(String?.self, at: 0), let ended = try row.decode(Date?.self, at: 1) else { continue }
                    if try row.decode(String.self, at: 3) == "completed" { completed += 1 }
                    polls += Int(try row.decode(Int32.self, at: 2))
                    retrieves += await parts.provider.state.retrieves(forResponse: response)
                    if let end = await parts.provider.state.endedAt(responseID: response) { lags.append(ended.timeIntervalSince(end)) }
                }
                lags.sort()
                let length = try await parts.pool.query("SELECT avg(extract(epoch FROM completed_at - started_at))::float8 FROM outline_session_rows")[0].decode(Double?.self, at: 0) ?? 0
                func at(_ q: Double) -> Double { lags.isEmpty ? 0 : lags[min(lags.count - 1, Int(Double(lags.count) * q))] }
                print(String(format: "%@: %d of %d completed, %.0f s each; provider end → session end: mean %.2f s, p50 %.2f s, max %.2f s; provider retrieves %.1f per session, session.polled %.1f per session",
                             webhooks ? "webhooks" : "polling every 5 s", completed, ids.count, length, lags.reduce(0, +) / Double(max(lags.count, 1)), at(0.5), lags.last ?? 0,
                             Double(retrieves) / Double(max(ids.count, 1)), Double(polls) / Double(max(ids.count, 1))))
            }
        }
    }
}
