import Foundation
import OpenAIResponses
import ProviderHTTP

/// Sends the simulated provider's webhooks: every 20 ms it takes the
/// deep-research responses that ended since (`SimulatedProviderState.takeEnded`)
/// and delivers one webhook each, with the configured faults, retrying until the
/// receiver answers 2xx or the attempts run out.
struct SimulatedWebhookSender: Sendable {
    let state: SimulatedProviderState
    let http = CurlHTTPClient()

    func run() async {
        var random = SeededRandom(seed: 7)
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(20))
                guard let configuration = await state.webhooks else { continue }
                for ended in await state.takeEnded() {
                    let jitter = configuration.jitter == .zero ? Duration.zero : configuration.jitter * (Double(random.next() % 1000) / 1000)
                    group.addTask { await deliver(ended.responseID, type: ended.type, configuration: configuration, extraDelay: jitter) }
                }
            }
        }
    }

    private func deliver(_ responseID: String, type: String, configuration: SimulatedWebhooks, extraDelay: Duration) async {
        guard !configuration.drop else {
            await state.noteWebhook(SimulatedWebhookAttempt(webhookID: "", type: type, responseID: responseID, status: -1))
            return
        }
        try? await Task.sleep(for: configuration.delay + extraDelay)
        let webhookID = "wh_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let now = Int64(Date().timeIntervalSince1970)
        let body = Array(Transcript.json([
            "id": "evt_" + String(UInt64.random(in: 0...UInt64.max), radix: 16), "object": "event", "type": type, "created_at": now,
            "data": ["id": responseID],
        ]).utf8)
        var secret = configuration.secret
        if configuration.wrongSignature, let other = try? StandardWebhook.Secret(SimulatedWebhooks.newSecret()) { secret = other }
        var sends = 1 + max(configuration.duplicates, 0)
        var attempt = 0
        while sends > 0, attempt < max(configuration.attempts, 1) {
            attempt += 1
            let timestamp = Int64(Date().timeIntervalSince1970) - Int64(configuration.timestampAge.components.seconds)
            let headers = [("Content-Type", "application/json"), ("webhook-id", webhookID), ("webhook-timestamp", String(timestamp)),
                           ("webhook-signature", StandardWebhook.sign(id: webhookID, timestamp: timestamp, body: body, secret: secret))]
            var status = 0
            if let (head, _) = try? await http.send(HTTPRequest(method: "POST", url: configuration.url, headers: headers, body: body, totalTimeout: .seconds(10))) {
                status = head.status
            }
            await state.noteWebhook(SimulatedWebhookAttempt(webhookID: webhookID, type: type, responseID: responseID, status: status))
            if (200..<300).contains(status) {
                sends -= 1
                attempt = 0
            } else {
                try? await Task.sleep(for: configuration.retryBackoff * (1 << min(attempt, 6)))
            }
        }
    }
}
