import ArgumentParser
import EventLog
import Foundation
import Hummingbird
import Logging
import OutlineSchema
import OutlineServer
import PostgresClient

/// The server executable: read configuration, check the schema, serve until SIGTERM.
@main
struct OutlineServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "outline-server", abstract: "Serve the OutlineStream HTTP API.")

    @Option(help: "address to listen on") var host = ProcessInfo.processInfo.environment["OUTLINE_HOST"] ?? "127.0.0.1"
    @Option(help: "port to listen on") var port = Int(ProcessInfo.processInfo.environment["OUTLINE_PORT"] ?? "") ?? 8080
    @Option(name: .customLong("database-url"), help: "libpq URL or connection string (default: $DATABASE_URL)") var databaseURL: String?
    @Flag(help: "apply pending migrations before serving") var migrate = false

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let logger = Logger(label: "outlinestream.server")
        guard let settings = databaseURL.map(ConnectionSettings.init) ?? ConnectionSettings.fromEnvironment(ProcessInfo.processInfo.environment) else {
            throw ValidationError("no database: set DATABASE_URL or pass --database-url")
        }
        guard let directory = SchemaFiles.directory() else { throw ValidationError("the migrations are not bundled with this build") }
        let pool = PostgresPool(settings: settings, maximumConnections: 16, logger: logger)
        let server = OutlineServerApplication(pool: pool, migrations: try Migration.load(from: directory), logger: logger)
        if migrate { try await Migrator(pool: pool, migrations: server.migrations, logger: logger).up() }
        do {
            try await server.checkSchema()
        } catch {
            throw StartupFailure(description: "refusing to serve: \(error)")
        }
        try await server.application(host: host, port: port) { port in
            logger.info("OutlineStream listening", metadata: ["url": "http://\(host):\(port)"])
        }.runService()
        await pool.shutdown()
    }
}

/// Why the server would not start: one line, no usage text (the arguments were fine).
struct StartupFailure: Error, CustomStringConvertible {
    var description: String
}
