import ArgumentParser
import Foundation
import OpenAIResponses
import SimulatedProvider

/// Serves the simulated Responses API on loopback (thin: the server lives in SimulatedProvider).
@main
struct SimulatedProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulated-provider",
        abstract: "Serve a simulated OpenAI Responses API on loopback: deterministic deep-research transcripts, injectable faults."
    )

    @Option(help: "address to listen on") var host = "127.0.0.1"
    @Option(help: "port to listen on (0: any free port)") var port = 8089
    @Option(help: "transcript seed (when the request names no session)") var seed: UInt64 = 1
    @Option(help: "web searches per run") var webSearches = 4
    @Option(help: "reasoning summaries per run") var reasoningSummaries = 3
    @Option(help: "outline length in characters") var outputLength = 4000
    @Option(help: "characters per text delta") var deltaSize = 12
    @Option(help: "milliseconds between stream events") var paceMs = 20
    @Option(help: "seconds a whole run takes (overrides --pace-ms), e.g. 900 for a 15-minute deep research") var durationSeconds: Double?
    @Option(help: "serve this recorded stream (a .chunks.txt file of data: payloads) instead of generated transcripts") var replay: String?
    @Option(help: "faults for every request, e.g. '429:1:2,cut-after:50' (see README)") var fault = ""
    @Option(help: "send signed webhooks (response.completed and the other ends) to this URL, e.g. http://127.0.0.1:8080/webhooks/openai") var webhookURL: String?
    @Option(help: "the whsec_ secret to sign webhooks with (default: SIM_WEBHOOK_SECRET)") var webhookSecret: String?
    @Option(help: "webhook fault: extra deliveries of each webhook, same id") var webhookDuplicates = 0
    @Option(help: "webhook fault: milliseconds between a response's end and its webhook") var webhookDelayMs = 0
    @Option(help: "webhook fault: a further random 0...N milliseconds per webhook (reordering)") var webhookJitterMs = 0
    @Flag(help: "webhook fault: never send them (the service's fallback poll must finish sessions)") var webhookDrop = false

    func run() async throws {
        let faults: [SimulatedFault]
        do { faults = try SimulatedFault.parse(fault) } catch { throw ValidationError("\(error)") }
        var spec = TranscriptSpec(seed: seed, webSearches: webSearches, reasoningSummaries: reasoningSummaries, outputLength: outputLength,
                                  deltaSize: deltaSize, pace: .milliseconds(paceMs))
        if let durationSeconds {
            guard durationSeconds.isFinite, (0...86_400).contains(durationSeconds) else { throw ValidationError("--duration-seconds must be from 0 to 86400") }
            spec.totalDuration = .milliseconds(Int(durationSeconds * 1000))
        }
        if let replay {
            spec.recorded = try String(contentsOfFile: replay, encoding: .utf8).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        }
        let server = SimulatedProviderServer(spec: spec, faults: faults)
        let running = try await RunningSimulatedProvider.start(server, host: host, port: port)
        if let webhookURL {
            guard let text = webhookSecret ?? ProcessInfo.processInfo.environment["SIM_WEBHOOK_SECRET"], let secret = try? StandardWebhook.Secret(text) else {
                throw ValidationError("--webhook-url needs --webhook-secret (or SIM_WEBHOOK_SECRET): whsec_ and base64 of at least 16 bytes")
            }
            for (name, value) in [("--webhook-duplicates", webhookDuplicates), ("--webhook-delay-ms", webhookDelayMs), ("--webhook-jitter-ms", webhookJitterMs)]
            where !(0...3_600_000).contains(value) {
                throw ValidationError("\(name) must be from 0 to 3600000")
            }
            var webhooks = SimulatedWebhooks(url: webhookURL, secret: secret)
            webhooks.duplicates = webhookDuplicates
            webhooks.delay = .milliseconds(webhookDelayMs)
            webhooks.jitter = .milliseconds(webhookJitterMs)
            webhooks.drop = webhookDrop
            await running.state.configureWebhooks(webhooks)
        }
        FileHandle.standardOutput.write(Data("simulated provider listening on \(running.url) (OPENAI_BASE_URL=\(running.url))\n".utf8))
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }
}

