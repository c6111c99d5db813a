import ArgumentParser
import EventLog
import BenchmarkSupport
import Foundation
import Logging
import OutlineProjections
import OutlineSchema
import PostgresClient

/// Measures the event log on this machine: append throughput with many live
/// sessions (and PostgreSQL's own COPY ceiling in the same run), projection
/// rebuild speed, and bytes on disk per event. Figures, never test assertions.
@main
struct OutlineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outline-bench",
        abstract: "Benchmark the event log against a scratch database on the server DATABASE_URL names."
    )

    @Option(help: "what to measure: log (append, COPY ceiling, rebuild, storage), parser (SSE framing and event decoding), runner (sessions end to end against the simulated provider), compaction (finished sessions hot and in segments), or lifecycle (a log of --events migrated to partitions live, compacted, its partition dropped, under a steady appender)") var suite = "log"
    @Option(help: "folder of the recorded provider streams (parser suite)") var fixtures = "Tests/Fixtures/openai-responses"
    @Option(help: "concurrent live sessions") var sessions = 100
    @Option(help: "runner suite: milliseconds between provider events") var paceMs = 0
    @Option(help: "runner suite: outline length in characters") var outputLength = 3000
    @Option(help: "text deltas per append (what a runner buffers in a few ms)") var batch = 10
    @Option(help: "total delta events to append") var events = 300_000
    @Option(help: "inline projection during appends: inline or none") var projection = "inline"
    @Option(help: "rows for the COPY ceiling") var copyRows = 300_000
    @Option(help: "connections the group commit writer may use at once") var writers = 2
    @Option(help: "compaction suite: sessions appended from each recorded provider stream") var recordedCopies = 200
    @Flag(help: "keep the scratch database afterwards") var keep = false
    @Option(name: .customLong("database-url"), help: "server to use (default: $DATABASE_URL); a scratch database is created on it")
    var databaseURL: String?

    func validate() throws {
        guard sessions >= 1, batch >= 1, events >= sessions, copyRows >= 0, writers >= 1 else {
            throw ValidationError("sessions, batch and writers must be at least 1, and events at least sessions")
        }
        guard ["inline", "none"].contains(projection) else { throw ValidationError("--projection is inline or none") }
        guard ["log", "parser", "runner", "compaction", "lifecycle"].contains(suite) else { throw ValidationError("--suite is log, parser, runner, compaction or lifecycle") }
    }

    func run() async throws {
        if suite == "parser" {
            print("# outline-bench \(CommandLine.arguments.dropFirst().joined(separator: " "))")
            try ParserBenchmark(fixtures: URL(fileURLWithPath: fixtures), megabytes: 200).run()
            return
        }
        var logger = Logger(label: "outline-bench")
        logger.logLevel = .warning
        guard let base = databaseURL.map(ConnectionSettings.init) ?? ConnectionSettings.fromEnvironment(ProcessInfo.processInfo.environment) else {
            throw ValidationError("set DATABASE_URL (eval \"$(Tools/dev/postgres.sh env)\") or pass --database-url")
        }
        let name = "outline_bench_\(getpid())"
        let admin = try await PostgresConnection.connect(base, logger: logger)
        try await admin.execute("CREATE DATABASE \(name)")
        let settings = base.withDatabase(name)
        let pool = PostgresPool(settings: settings, maximumConnections: writers + 6, logger: logger)
        defer { print("") }
        do {
            try await Migrator(pool: pool, migrations: try Migration.load(from: SchemaFiles.directory()!), logger: logger).up()
            print("# outline-bench \(CommandLine.arguments.dropFirst().joined(separator: " "))")
            print("# \(ProcessInfo.processInfo.activeProcessorCount) cores; PostgreSQL \(try await pool.query("SHOW server_version")[0].decode(String.self, at: 0)); synchronous_commit=\(try await pool.query("SHOW synchronous_commit")[0].decode(String.self, at: 0)), fsync=\(try await pool.query("SHOW fsync")[0].decode(String.self, at: 0))")
            if suite == "runner" || suite == "compaction" || suite == "lifecycle" {
                if suite == "lifecycle" {
                    try await LifecycleBenchmark(events: events, sessions: sessions).run(pool: pool, logger: logger)
                } else if suite == "runner" {
                    try await RunnerBenchmark(sessions: sessions, outputLength: outputLength, pace: .milliseconds(paceMs)).run(pool: pool, logger: logger)
                } else {
                    try await CompactionBenchmark(sessions: sessions, outputLength: outputLength, fixtures: URL(fileURLWithPath: fixtures), recordedCopies: recordedCopies).run(pool: pool, logger: logger)
                }
                await pool.shutdown()
                if !keep { try await admin.execute("DROP DATABASE \(name) WITH (FORCE)") }
                await admin.close()
                return
            }
            let workload = AppendWorkload(sessions: sessions, batch: batch, events: events, writers: writers, inlineProjection: projection == "inline")
            try await workload.run(pool: pool, logger: logger)
            if copyRows > 0 { try await CopyCeiling(rows: copyRows).run(pool: pool) }
            try await RebuildBenchmark().run(pool: pool, logger: logger)
            try await StorageReport().run(pool: pool)
        } catch {
            await pool.shutdown()
            if !keep { try? await admin.execute("DROP DATABASE \(name) WITH (FORCE)") }
            throw error
        }
        await pool.shutdown()
        if !keep {
            try await admin.execute("DROP DATABASE \(name) WITH (FORCE)")
        } else {
            print("kept database \(name)")
        }
        await admin.close()
    }
}
