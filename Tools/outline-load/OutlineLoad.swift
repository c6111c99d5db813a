import ArgumentParser
import EventLog
import Foundation
import Logging
import OutlineAuth
import OutlineSchema
import PostgresClient
import SimulatedProvider

/// The load tool: starts the real server (a child process) on a scratch
/// database with the simulated provider in this process, then runs a
/// scenario of SSE clients against it and prints what it measured.
@main
struct OutlineLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outline-load",
        abstract: "Load the SSE service: fan-out with random disconnects, replay from the start, idle connections."
    )

    @Option(help: "fanout (sessions run by the server against the simulated provider), tail (this tool appends, the server only streams), replay, idle, abuse (append latency with and without non-reading clients and /readyz loops), floor (the same clients against outline-floor, a bare in-memory Hummingbird broadcaster), nchan (against nginx + nchan; Tools/dev/nchan-deps.sh installs it), v2 (V2 sessions polled every 5 s against completed by webhook: --sessions, --seconds per run), topology (the fan-out through nginx with each of --instances, reads from the standby) or write-ramp (on the largest of --instances, each of --ramp sessions appending at once, one client each)") var scenario = "fanout"
    @Option(parsing: .upToNextOption, help: "topology, write-ramp: server instances behind nginx (topology: one run per count)") var instances = [1, 2, 3]
    @Option(parsing: .upToNextOption, help: "write-ramp: sessions at once, one run per count, ascending") var ramp = [50, 100, 200, 400]
    @Option(name: .customLong("read-database-url"), help: "topology, write-ramp: the primary's streaming standby (default: $OUTLINE_STANDBY_DATABASE_URL; none: every read on the primary)") var readDatabaseURL: String?
    @Option(help: "abuse: parallel /readyz loops") var readinessLoops = 200
    @Option(help: "floor, nchan, compare: idle connections to hold (0: none; compare: 10,000)") var idleConnections: Int?
    @Option(help: "fanout, floor, nchan, compare: the client that reads the streams (epoll: one thread, a few µs per delivery; curl: libcurl, an async sequence per stream)") var reader = ReaderKind.epoll
    @Flag(help: "fanout: let the runs start at once and the clients replay what they missed (before: every client listens, then the runs start together)") var replayStart = false
    @Option(help: "compare: seconds each fan-out streams") var seconds = 10
    @Option(parsing: .upToNextOption, help: "compare: offered rates for 1,000 clients / 100 sessions, ascending (each target stops at its first p99 over the bound from 40,000/s on)") var rates = [10_000, 20_000, 30_000, 40_000, 50_000]
    @Option(help: "compare: the p99 bound in ms") var p99BoundMs = 50
    @Option(help: "idle: seconds to keep the connections open after measuring, to inspect the server") var holdSeconds = 0
    @Option(help: "idle: measure again after this many seconds with the streams open (the server trims its heap every OUTLINE_HEAP_TRIM_SECONDS)") var settleSeconds = 0
    @Option(help: "SSE clients (fanout) or open connections (idle)") var clients = 1000
    @Option(help: "live sessions the clients spread over") var sessions = 100
    @Option(help: "fanout: chance per received event that a client hangs up and reconnects") var disconnectProbability = 0.0
    @Option(help: "provider: milliseconds between stream events") var paceMs = 25
    @Option(help: "provider: outline length in characters") var outputLength = 3000
    @Option(help: "replay: events in the replayed session; tail and floor: events per session (default 300,000; floor 300)") var events: Int?
    @Option(help: "the server executable (default: outline-server beside this program)") var serverBinary: String?
    @Option(name: .customLong("database-url"), help: "server to use (default: $DATABASE_URL); a scratch database is created on it") var databaseURL: String?

    func validate() throws {
        guard ["fanout", "tail", "replay", "idle", "abuse", "floor", "nchan", "compare", "v2", "topology", "write-ramp"].contains(scenario) else {
            throw ValidationError("--scenario is fanout, tail, replay, idle, abuse, floor, nchan, compare, v2, topology or write-ramp")
        }
        guard !instances.isEmpty, instances.allSatisfy({ (1...16).contains($0) }), !ramp.isEmpty, ramp.allSatisfy({ (1...10_000).contains($0) }) else {
            throw ValidationError("--instances are 1…16 each, --ramp 1…10000 sessions each")
        }
        guard (1...600).contains(seconds), (1...10_000).contains(p99BoundMs), !rates.isEmpty, rates.allSatisfy({ (1_000...1_000_000).contains($0) }), rates == rates.sorted() else {
            throw ValidationError("--seconds is 1…600, --p99-bound-ms 1…10000, --rates ascending within 1,000…1,000,000")
        }
        guard (1...60_000).contains(paceMs), (idleConnections ?? 0) >= 0, (0...3600).contains(holdSeconds), (0...3600).contains(settleSeconds) else {
            throw ValidationError("--pace-ms is 1…60000, --idle-connections ≥ 0, --hold-seconds and --settle-seconds 0…3600")
        }
        guard clients >= 1, sessions >= 1, (events ?? 3) >= 3, (events ?? 0) <= 10_000_000, (0...1).contains(disconnectProbability) else { throw ValidationError("counts must be positive, the probability within 0…1") }
    }

    func run() async throws {
        let limit = LoadStack.raiseFileLimit()
        print("# outline-load \(CommandLine.arguments.dropFirst().joined(separator: " "))")
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let floorBinary = here.appendingPathComponent("outline-floor").path
        let module = ProcessInfo.processInfo.environment["OUTLINE_NCHAN_MODULE"] ?? "/usr/lib/nginx/modules/ngx_nchan_module.so"
        if scenario == "floor" || scenario == "nchan" {
            print("# \(ProcessInfo.processInfo.activeProcessorCount) cores; open-file limit \(limit); broadcaster and clients on this host")
            try await FloorScenario(clients: clients, sessions: sessions, events: events ?? 300, paceMs: paceMs, idleConnections: idleConnections ?? 0, reader: reader)
                .run(scenario == "floor" ? .floor(binary: floorBinary) : .nchan(module: module))
            return
        }
        guard let base = databaseURL.map(ConnectionSettings.init) ?? ConnectionSettings.fromEnvironment(ProcessInfo.processInfo.environment) else {
            throw ValidationError("set DATABASE_URL (eval \"$(Tools/dev/postgres.sh env)\") or pass --database-url")
        }
        print("# \(ProcessInfo.processInfo.activeProcessorCount) cores; open-file limit \(limit); server, PostgreSQL, provider and clients on this host")
        let serverBinary = self.serverBinary ?? here.appendingPathComponent("outline-server").path
        if scenario == "v2" {
            try await V2Scenario(base: base, serverBinary: serverBinary, sessions: sessions, runSeconds: seconds).run()
            return
        }
        if scenario == "topology" || scenario == "write-ramp" {
            let standby = (readDatabaseURL ?? ProcessInfo.processInfo.environment["OUTLINE_STANDBY_DATABASE_URL"]).flatMap { $0.isEmpty || $0 == "none" ? nil : ConnectionSettings($0) }
            let steps = scenario == "topology"
                ? instances.map { TopologyScenario.Step(instances: $0, sessions: sessions, clients: clients) }
                : ramp.map { TopologyScenario.Step(instances: instances.max()!, sessions: $0, clients: $0) }
            try await TopologyScenario(primary: base, standby: standby, serverBinary: serverBinary, steps: steps, paceMs: paceMs, outputLength: outputLength,
                                       disconnectProbability: disconnectProbability, reader: reader).run()
            return
        }
        if scenario == "compare" {
            try await CompareScenario(base: base, serverBinary: serverBinary, floorBinary: floorBinary, nchanModule: module, seconds: seconds,
                                      rates: rates, p99Bound: Double(p99BoundMs), idleConnections: idleConnections ?? 10_000, reader: reader).run()
            return
        }
        let together = scenario == "fanout" && !replayStart
        try await ServiceRun(base: base, serverBinary: serverBinary, paceMs: paceMs, outputLength: outputLength, holdRuns: together) { parts in
            let (running, pool, signer) = (parts.stack, parts.pool, parts.signer)
            switch scenario {
            case "fanout":
                try await FanOutScenario(clients: clients, sessions: sessions, disconnectProbability: disconnectProbability, reader: reader,
                                         release: together ? parts.release : nil).run(stack: running, pool: pool, signer: signer)
            case "tail": try await TailScenario(clients: clients, sessions: sessions, eventsPerSession: events ?? 300_000, pace: .milliseconds(paceMs)).run(stack: running, pool: pool, signer: signer)
            case "replay": try await ReplayScenario(events: events ?? 300_000).run(stack: running, pool: pool, signer: signer)
            case "abuse": try await AbuseScenario(sessions: sessions, connections: clients, readinessLoops: readinessLoops).run(stack: running, signer: signer)
            default: try await IdleScenario(connections: clients, sessions: sessions, hold: holdSeconds, settle: settleSeconds).run(stack: running, signer: signer)
            }
        }
    }
}
