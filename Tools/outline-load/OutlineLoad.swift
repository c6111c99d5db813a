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

    @Option(help: "fanout (sessions run by the server against the simulated provider), tail (this tool appends, the server only streams), replay, idle, abuse (append latency with and without non-reading clients and /readyz loops), floor (the same clients against outline-floor, a bare in-memory Hummingbird broadcaster), or nchan (against nginx + nchan; Tools/dev/nchan-deps.sh installs it)") var scenario = "fanout"
    @Option(help: "abuse: parallel /readyz loops") var readinessLoops = 200
    @Option(help: "floor: idle connections to hold first (0: none)") var idleConnections = 0
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
        guard ["fanout", "tail", "replay", "idle", "abuse", "floor", "nchan"].contains(scenario) else { throw ValidationError("--scenario is fanout, tail, replay, idle, abuse, floor or nchan") }
        guard (1...60_000).contains(paceMs), idleConnections >= 0, (0...3600).contains(holdSeconds), (0...3600).contains(settleSeconds) else {
            throw ValidationError("--pace-ms is 1…60000, --idle-connections ≥ 0, --hold-seconds and --settle-seconds 0…3600")
        }
        guard clients >= 1, sessions >= 1, (events ?? 3) >= 3, (events ?? 0) <= 10_000_000, (0...1).contains(disconnectProbability) else { throw ValidationError("counts must be positive, the probability within 0…1") }
    }

    func run() async throws {
        var logger = Logger(label: "outline-load")
        logger.logLevel = .warning
        if scenario == "floor" || scenario == "nchan" {
            let limit = LoadStack.raiseFileLimit()
            print("# outline-load \(CommandLine.arguments.dropFirst().joined(separator: " "))")
            print("# \(ProcessInfo.processInfo.activeProcessorCount) cores; open-file limit \(limit); broadcaster and clients on this host")
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("outline-floor").path
            let module = ProcessInfo.processInfo.environment["OUTLINE_NCHAN_MODULE"] ?? "/usr/lib/nginx/modules/ngx_nchan_module.so"
            try await FloorScenario(clients: clients, sessions: sessions, events: events ?? 300, paceMs: paceMs, idleConnections: idleConnections)
                .run(scenario == "floor" ? .floor(binary: binary) : .nchan(module: module))
            return
        }
        guard let base = databaseURL.map(ConnectionSettings.init) ?? ConnectionSettings.fromEnvironment(ProcessInfo.processInfo.environment) else {
            throw ValidationError("set DATABASE_URL (eval \"$(Tools/dev/postgres.sh env)\") or pass --database-url")
        }
        let limit = LoadStack.raiseFileLimit()
        print("# outline-load \(CommandLine.arguments.dropFirst().joined(separator: " "))")
        print("# \(ProcessInfo.processInfo.activeProcessorCount) cores; open-file limit \(limit); server, PostgreSQL, provider and clients on this host")
        let name = "outline_load_\(getpid())"
        let admin = try await PostgresConnection.connect(base, logger: logger)
        try await admin.execute("CREATE DATABASE \(name)")
        let settings = base.withDatabase(name)
        let pool = PostgresPool(settings: settings, maximumConnections: 4, logger: logger)
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: TranscriptSpec(outputLength: outputLength, pace: .milliseconds(paceMs))))
        var stack: LoadStack?
        do {
            try await Migrator(pool: pool, migrations: try Migration.load(from: SchemaFiles.directory()!), logger: logger).up()
            let secret = "load-" + UUID().uuidString + UUID().uuidString
            let binary = serverBinary ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("outline-server").path
            let running = try await LoadStack.start(binary: binary, databaseURL: settings.conninfo, providerURL: provider.url, secret: secret)
            stack = running
            let signer = TokenSigner(secret: secret)
            switch scenario {
            case "fanout": try await FanOutScenario(clients: clients, sessions: sessions, disconnectProbability: disconnectProbability).run(stack: running, pool: pool, signer: signer)
            case "tail": try await TailScenario(clients: clients, sessions: sessions, eventsPerSession: events ?? 300_000, pace: .milliseconds(paceMs)).run(stack: running, pool: pool, signer: signer)
            case "replay": try await ReplayScenario(events: events ?? 300_000).run(stack: running, pool: pool, signer: signer)
            case "abuse": try await AbuseScenario(sessions: sessions, connections: clients, readinessLoops: readinessLoops).run(stack: running, signer: signer)
            default: try await IdleScenario(connections: clients, sessions: sessions, hold: holdSeconds, settle: settleSeconds).run(stack: running, signer: signer)
            }
        } catch {
            await stack?.stop()
            await provider.stop()
            await pool.shutdown()
            try? await admin.execute("DROP DATABASE \(name) WITH (FORCE)")
            throw error
        }
        await stack?.stop()
        await provider.stop()
        await pool.shutdown()
        try await admin.execute("DROP DATABASE \(name) WITH (FORCE)")
        await admin.close()
    }
}
