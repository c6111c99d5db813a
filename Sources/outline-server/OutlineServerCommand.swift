import ArgumentParser
import EventLog
import Foundation
import Logging
import OTel
import Metrics
import OutlineSchema
import OutlineServer
import PostgresClient
import Prometheus
import ServiceLifecycle

/// The server executable: read configuration, check the schema, serve until SIGTERM.
@main
struct OutlineServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outline-server",
        abstract: "Serve the OutlineStream HTTP API.",
        discussion: """
        Configuration comes from the environment: DATABASE_URL, OUTLINE_TOKEN_SECRET (≥ 32 characters), \
        OPENAI_BASE_URL and OPENAI_API_KEY (the provider), USE_STREAMING, STREAMING_ROLLOUT_PERCENT, \
        OUTLINE_HEARTBEAT_SECONDS, OUTLINE_MALLOC_ARENAS, OUTLINE_HEAP_TRIM_SECONDS (see the README). Flags override the listen address and the database.
        """
    )

    @Option(help: "address to listen on") var host = ProcessInfo.processInfo.environment["OUTLINE_HOST"] ?? "127.0.0.1"
    @Option(help: "port to listen on (0: any free port)") var port = Int(ProcessInfo.processInfo.environment["OUTLINE_PORT"] ?? "") ?? 8080
    @Option(name: .customLong("database-url"), help: "libpq URL or connection string (default: $DATABASE_URL)") var databaseURL: String?
    @Flag(help: "apply pending migrations before serving") var migrate = false
    @Option(help: "write the bound port to this file once listening (for scripts)") var portFile: String?

    func run() async throws {
        // trace_id and span_id in every log line written inside a span (none without a tracer).
        LoggingSystem.bootstrap(StreamLogHandler.standardError, metadataProvider: OTel.makeLoggingMetadataProvider())
        let traces: (any Service)?
        do {
            traces = try TraceExport.bootstrap(environment: ProcessInfo.processInfo.environment)
        } catch {
            throw StartupFailure(description: "refusing to start: the OpenTelemetry configuration is invalid: \(error)")
        }
        let registry = PrometheusCollectorRegistry()
        var metrics = PrometheusMetricsFactory(registry: registry)
        // Finer than the library's default (5 ms first): the live path's budget is tens of milliseconds.
        metrics.defaultDurationHistogramBuckets = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2500, 5000, 10000, 30000].map { Duration.microseconds(Int64($0 * 1000)) }
        MetricsSystem.bootstrap(metrics)
        let logger = Logger(label: "outlinestream.server")
        guard let settings = databaseURL.map(ConnectionSettings.init) ?? ConnectionSettings.fromEnvironment(ProcessInfo.processInfo.environment) else {
            throw ValidationError("no database: set DATABASE_URL or pass --database-url")
        }
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.fromEnvironment()
        } catch {
            throw StartupFailure(description: "refusing to start: \(error)")
        }
        HeapTrimmer.start(configuration.heap)
        guard let directory = SchemaFiles.directory() else { throw ValidationError("the migrations are not bundled with this build") }
        let pool = OutlineServerApplication.pool(settings: settings, configuration: configuration, logger: logger)
        // A streaming standby for the reads that tolerate its lag (off unless set).
        let readPool = ProcessInfo.processInfo.environment["DATABASE_READ_URL"].flatMap { $0.isEmpty ? nil : $0 }.map {
            OutlineServerApplication.pool(settings: ConnectionSettings($0), configuration: configuration, logger: logger)
        }
        let server = OutlineServerApplication(pool: pool, readPool: readPool, migrations: try Migration.load(from: directory), configuration: configuration,
                                              metricsRegistry: registry, logger: logger)
        if migrate { try await Migrator(pool: pool, migrations: server.migrations, logger: logger).up() }
        do {
            try await server.checkSchema()
        } catch {
            throw StartupFailure(description: "refusing to serve: \(error)")
        }
        logger.info("provider", metadata: ["configuration": "\(configuration.provider)"])
        let host = self.host
        let portFile = self.portFile
        try await server.run(host: host, port: port, signals: [.sigterm, .sigint], observability: traces) { port in
            logger.info("OutlineStream listening", metadata: ["url": "http://\(host):\(port)"])
            if let portFile { try? String(port).write(toFile: portFile, atomically: true, encoding: .utf8) }
        }
        await pool.shutdown()
        await readPool?.shutdown()
    }
}

/// Why the server would not start: one line, no usage text (the arguments were fine).
struct StartupFailure: Error, CustomStringConvertible {
    var description: String
}
