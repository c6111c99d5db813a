import ArgumentParser
import Foundation
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

    func run() async throws {
        let faults: [SimulatedFault]
        do { faults = try SimulatedFault.parse(fault) } catch { throw ValidationError("\(error)") }
        var spec = TranscriptSpec(seed: seed, webSearches: webSearches, reasoningSummaries: reasoningSummaries, outputLength: outputLength,
                                  deltaSize: deltaSize, pace: .milliseconds(paceMs))
        if let durationSeconds { spec.totalDuration = .milliseconds(Int(durationSeconds * 1000)) }
        if let replay {
            spec.recorded = try String(contentsOfFile: replay, encoding: .utf8).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        }
        let server = SimulatedProviderServer(spec: spec, faults: faults)
        let running = try await RunningSimulatedProvider.start(server, host: host, port: port)
        FileHandle.standardOutput.write(Data("simulated provider listening on \(running.url) (OPENAI_BASE_URL=\(running.url))\n".utf8))
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }
}

