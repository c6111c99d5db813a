import EventLog
import Foundation
import OpenAIResponses
import OutlineServer
import SimulatedProvider
import Testing
import TestSupport

/// V2 completes on the provider's webhook instead of polling. The simulated
/// provider signs and sends real Standard Webhooks to the service over
/// loopback, with the faults real delivery has (duplicates, delays, reordering,
/// retries, loss); the fallback poll is set so long (an hour) that a session
/// that finishes at all in the webhook tests finished by its webhook.
@Suite("Provider webhooks: V2 ends without polling; fallbacks and refusals")
struct WebhookTests {
    static let secret = SimulatedWebhooks.newSecret()

    static func webhooks(fallback: Duration = .seconds(3600), secrets: [String] = [secret]) -> (inout ServiceConfiguration) -> Void {
        {
            $0.webhookSecrets = secrets.map { try! StandardWebhook.Secret($0) }
            $0.runner.webhookFallbackPollInterval = fallback
            $0.runner.webhookCheckInterval = .milliseconds(50)
        }
    }

    static func startV2(_ h: ServiceHarness, _ workflow: String, token: String) async throws -> String {
        let reply = try await h.call("POST", ServiceHarness.base(workflow) + "/start-v2", token: token, json: ["prompt": "Tidal energy", "skipClarification": true])
        try #require(reply.status == 201, "start-v2 answered \(reply.status): \(reply.text)")
        return try #require(reply.json?["sessionId"] as? String)
    }

    static func responseID(_ log: [RecordedEvent]) throws -> String {
        try #require(log.compactMap { if case .providerResponseAccepted(let a) = $0.event { a.responseId } else { nil } }.first)
    }

    @Test("V2 sessions finish on their webhook with zero polls, each webhook processed once though delivered three times and out of order")
    func zeroPolls() async throws {
        try await ServiceHarness.with(configure: Self.webhooks()) { h in
            var webhooks = SimulatedWebhooks(url: h.url + "/webhooks/openai", secret: try StandardWebhook.Secret(Self.secret))
            webhooks.duplicates = 2
            webhooks.jitter = .milliseconds(300)
            await h.provider.state.configureWebhooks(webhooks)
            let alice = try await h.token("alice")
            var sessions: [String] = []
            for index in 0..<4 { sessions.append(try await Self.startV2(h, "wf-hook-\(index)", token: alice)) }
            for (index, session) in sessions.enumerated() {
                let row = try await h.waitUntilEnded("wf-hook-\(index)", session: session, token: alice)
                #expect(row["status"] as? String == "completed")
                #expect(row["pollingAttempts"] as? Int == 0)
                let log = try await h.log(session)
                #expect(!log.contains { if case .polled = $0.event { true } else { false } }, "a session.polled in \(log.map(\.event.eventType))")
                let received = log.compactMap { if case .webhookReceived(let w) = $0.event { w } else { nil } }
                #expect(received.count == 1 && received.first?.webhookType == "response.completed")
                let responseID = try Self.responseID(log)
                #expect(await h.provider.state.retrieves(forResponse: responseID) == 1, "one fetch, after the webhook")
                #expect(await h.provider.state.researchCreates(forSession: session) == 1)
            }
            // Each webhook reached the service three times (retries reuse the id), all acknowledged.
            // A bound against a hung sender, not a timing: a loaded CI run took more than 30 s.
            try await Deadline.wait(for: "every delivery", within: .seconds(120)) { await h.provider.state.webhookAttempts.count == 12 }
            let attempts = await h.provider.state.webhookAttempts
            #expect(attempts.allSatisfy { $0.status == 200 }, "\(attempts)")
            #expect(Dictionary(grouping: attempts, by: \.webhookID).values.allSatisfy { $0.count == 3 })
            let stored = try await h.pool.query("SELECT count(*) FROM outline_webhook_deliveries")[0].decode(Int64.self, at: 0)
            #expect(stored == 4)
            let metrics = try await h.call("GET", "/metrics").text
            // (The registry is shared by the tests running beside this one: counts only grow.)
            #expect(metrics.contains("outline_webhooks_total{outcome=\"duplicate\"}") && metrics.contains("outline_webhook_wakeups_total"))
        }
    }

    @Test("when webhooks are lost, or refused (wrong signature, stale timestamp), the slow fallback poll still finishes the session")
    func fallback() async throws {
        try await ServiceHarness.with(configure: Self.webhooks(fallback: .milliseconds(500))) { h in
            let alice = try await h.token("alice")
            var webhooks = SimulatedWebhooks(url: h.url + "/webhooks/openai", secret: try StandardWebhook.Secret(Self.secret))
            webhooks.retryBackoff = .milliseconds(10)
            for (name, fault) in [("lost", { (w: inout SimulatedWebhooks) in w.drop = true }),
                                  ("wrong signature", { (w: inout SimulatedWebhooks) in w.wrongSignature = true }),
                                  ("stale", { (w: inout SimulatedWebhooks) in w.timestampAge = .seconds(600) })] {
                var faulty = webhooks
                fault(&faulty)
                await h.provider.state.configureWebhooks(faulty)
                let workflow = "wf-fallback-" + name.replacingOccurrences(of: " ", with: "-")
                let session = try await Self.startV2(h, workflow, token: alice)
                let row = try await h.waitUntilEnded(workflow, session: session, token: alice)
                #expect(row["status"] as? String == "completed", "\(name)")
                let log = try await h.log(session)
                #expect(log.contains { if case .polled = $0.event { true } else { false } }, "\(name): finished by polling")
                #expect(!log.contains { if case .webhookReceived = $0.event { true } else { false } }, "\(name): no webhook was accepted")
                let responseID = try Self.responseID(log)
                // The simulator records an attempt once it has been made: the fallback poll can
                // finish the session first (a loaded CI run found none yet), so wait for it.
                let attempts = try await Deadline.value(of: "\(name): the webhook's delivery attempts", within: .seconds(120), every: .milliseconds(50)) {
                    let made = await h.provider.state.webhookAttempts.filter { $0.responseID == responseID }
                    return made.isEmpty ? nil : made
                }
                switch name {
                case "lost": #expect(attempts.map(\.status) == [-1])
                default: #expect(!attempts.isEmpty && attempts.allSatisfy { $0.status == 401 }, "\(name): \(attempts)")
                }
            }
            #expect(try await h.pool.query("SELECT count(*) FROM outline_webhook_deliveries")[0].decode(Int64.self, at: 0) == 0)
        }
    }

    @Test("the receiver refuses what is not a verified webhook with the right status and code, and acknowledges a replay without processing it")
    func refusals() async throws {
        let old = SimulatedWebhooks.newSecret()
        try await ServiceHarness.with(configure: Self.webhooks(secrets: [old, Self.secret])) { h in
            let secret = try StandardWebhook.Secret(Self.secret)
            func post(id: String? = "wh_test1", timestamp: Int64? = Int64(Date().timeIntervalSince1970), body: String, signWith: StandardWebhook.Secret? = nil,
                      signature: String? = nil) async throws -> ServiceHarness.Reply {
                var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
                if let id { headers.append(("webhook-id", id)) }
                if let timestamp { headers.append(("webhook-timestamp", String(timestamp))) }
                if let signature {
                    headers.append(("webhook-signature", signature))
                } else if let id, let timestamp {
                    headers.append(("webhook-signature", StandardWebhook.sign(id: id, timestamp: timestamp, body: Array(body.utf8), secret: signWith ?? secret)))
                }
                return try await h.call("POST", "/webhooks/openai", body: Array(body.utf8), headers: headers)
            }
            let event = #"{"id": "evt_1", "object": "event", "type": "response.completed", "created_at": 1, "data": {"id": "resp_unknown"}}"#
            let first = try await post(body: event)
            #expect(first.status == 200 && first.json?["duplicate"] as? Bool == false, "\(first.text)")
            let replay = try await post(body: event)
            #expect(replay.status == 200 && replay.json?["duplicate"] as? Bool == true, "a replayed id is acknowledged, not processed: \(replay.text)")
            // Signed with the secret being rotated out: still accepted.
            #expect(try await post(id: "wh_old", body: event, signWith: try StandardWebhook.Secret(old)).json?["duplicate"] as? Bool == false)
            let forged = try await post(id: "wh_forged", body: event, signWith: try StandardWebhook.Secret(SimulatedWebhooks.newSecret()))
            #expect(forged.status == 401 && forged.errorCode == "invalid_webhook_signature")
            let stale = try await post(id: "wh_stale", timestamp: Int64(Date().timeIntervalSince1970) - 301, body: event)
            #expect(stale.status == 401 && stale.errorCode == "webhook_timestamp_out_of_tolerance")
            let future = try await post(id: "wh_future", timestamp: Int64(Date().timeIntervalSince1970) + 3600, body: event)
            #expect(future.status == 401 && future.errorCode == "webhook_timestamp_out_of_tolerance")
            let unsigned = try await post(id: "wh_unsigned", timestamp: nil, body: event)
            #expect(unsigned.status == 400 && unsigned.errorCode == "invalid_webhook")
            #expect((unsigned.json?["error"] as? [String: Any])?["field"] as? String == "webhook-timestamp")
            let garbage = try await post(id: "wh_garbage", body: "[1, 2, 3]")
            #expect(garbage.status == 400 && garbage.errorCode == "invalid_webhook")
            let other = try await post(id: "wh_batch", body: #"{"id": "evt_2", "type": "batch.completed", "data": {"id": "batch_1"}}"#)
            #expect(other.status == 200 && other.json?["ignored"] as? Bool == true)
            let huge = try await post(id: "wh_huge", body: "{\"pad\": \"" + String(repeating: "x", count: 70_000) + "\"}")
            #expect(huge.status == 413)
            let rows = try await h.pool.query("SELECT webhook_id FROM outline_webhook_deliveries ORDER BY webhook_id").map { try $0.decode(String.self, at: 0) }
            #expect(rows == ["wh_old", "wh_test1"])
        }
        // Without a secret the receiver is off (the service polls): 404 that says so.
        try await ServiceHarness.with { h in
            let reply = try await h.call("POST", "/webhooks/openai", json: ["id": "evt"])
            #expect(reply.status == 404 && reply.errorCode == "webhooks_disabled")
        }
    }
}
