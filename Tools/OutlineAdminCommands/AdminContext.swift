import ArgumentParser
import EventLog
import Foundation
import Logging
import OutlineSchema
import PostgresClient

/// Options every admin command shares: where the database is.
public struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq connection string or URL (default: $DATABASE_URL)")
    var databaseURL: String?

    @Option(name: .customLong("schema-dir"), help: "folder of NNNN_name.up.sql/.down.sql migrations (default: the ones built in)")
    var schemaDirectory: String?

    public init() {}

    func settings() throws -> ConnectionSettings {
        if let databaseURL, !databaseURL.isEmpty { return ConnectionSettings(databaseURL) }
        if let settings = ConnectionSettings.fromEnvironment(ProcessInfo.processInfo.environment) { return settings }
        throw AdminFailure("no database: set DATABASE_URL or pass --database-url (Tools/dev/postgres.sh env prints the private cluster's)")
    }

    func migrations() throws -> [Migration] {
        let directory = schemaDirectory.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? SchemaFiles.directory()
        guard let directory else { throw AdminFailure("the migrations are not bundled with this build; pass --schema-dir") }
        return try Migration.load(from: directory)
    }

    /// Runs `body` with a pool, closes it, and turns any error into one clear line.
    func withPool<T>(connections: Int = 4, _ body: (PostgresPool) async throws -> T) async throws -> T {
        let pool = PostgresPool(settings: try settings(), maximumConnections: connections, logger: AdminLogging.logger)
        do {
            let result = try await body(pool)
            await pool.shutdown()
            return result
        } catch {
            await pool.shutdown()
            throw AdminFailure.wrap(error)
        }
    }
}

/// An error the admin program reports as one line before exiting non-zero.
public struct AdminFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func wrap(_ error: any Error) -> any Error {
        if error is AdminFailure || error is ExitCode { return error }
        return AdminFailure(String(describing: error))
    }
}

enum AdminLogging {
    static var logger: Logger {
        var logger = Logger(label: "outline-admin")
        logger.logLevel = .warning
        return logger
    }
}

/// A progress line redrawn in place on a terminal, printed every few seconds otherwise.
struct ProgressLine {
    let interactive = isatty(STDERR_FILENO) == 1
    var lastPrinted = Date.distantPast

    mutating func show(_ text: String, final: Bool = false) {
        let now = Date()
        guard final || now.timeIntervalSince(lastPrinted) >= (interactive ? 0.1 : 5) else { return }
        lastPrinted = now
        let line = interactive ? "\r\u{1B}[2K" + text + (final ? "\n" : "") : text + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
