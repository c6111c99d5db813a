import EventLog
import Foundation
import OutlineSchema
import PostgresClient
import Logging
import Synchronization

/// Real PostgreSQL databases for tests: each test gets a database of its own,
/// copied from a migrated template, on the server `DATABASE_URL` names (the
/// project's private cluster, started by `Tools/test.sh`).
public enum TestDatabase {
    public static var environment: [String: String] { ProcessInfo.processInfo.environment }

    public static var baseSettings: ConnectionSettings {
        guard let settings = ConnectionSettings.fromEnvironment(environment) else {
            fatalError("DATABASE_URL is not set: run the tests with Tools/test.sh, which starts the private PostgreSQL cluster")
        }
        return settings
    }

    /// The same server as the superuser, for what the service role may not do
    /// (disabling triggers to tamper with the log, as an attacker with full rights would).
    public static var superuserSettings: ConnectionSettings {
        guard let url = environment["OUTLINE_SUPERUSER_DATABASE_URL"], !url.isEmpty else {
            fatalError("OUTLINE_SUPERUSER_DATABASE_URL is not set: run the tests with Tools/test.sh")
        }
        return ConnectionSettings(url)
    }

    /// Libraries log through swift-log; tests only want to hear of trouble.
    public static var quietLogger: Logger {
        var logger = Logger(label: "outlinestream.test")
        logger.logLevel = .warning
        return logger
    }

    public static func migrations() throws -> [Migration] {
        guard let directory = SchemaFiles.directory() else { fatalError("the Schema migrations are not bundled") }
        return try Migration.load(from: directory)
    }

    private static let templateName = Mutex<Task<String, any Error>?>(nil)

    /// A migrated template database, made once per test process.
    static func template() async throws -> String {
        let task = templateName.withLock { current -> Task<String, any Error> in
            if let current { return current }
            let task = Task<String, any Error> {
                try await dropLeftovers()
                let name = "outline_test_template_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
                try await createEmpty(name)
                let pool = PostgresPool(settings: baseSettings.withDatabase(name), maximumConnections: 1)
                try await Migrator(pool: pool, migrations: try migrations(), logger: quietLogger).up()
                await pool.shutdown()
                return name
            }
            current = task
            return task
        }
        return try await task.value
    }


    /// Drops the databases of test processes that are gone (a run that was killed
    /// cannot clean up, and every run leaves its template): names carry the pid.
    static func dropLeftovers() async throws {
        let admin = try await PostgresConnection.connect(baseSettings)
        let names = try await admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'outline\\_test\\_%'").map { try $0.decode(String.self, at: 0) }
        for name in names {
            let parts = name.dropFirst("outline_test_".count).split(separator: "_")
            guard let pidText = parts.first(where: { Int32($0) != nil }), let pid = Int32(pidText), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }   // its process still runs
            _ = try? await admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
        await admin.close()
    }

    static func createEmpty(_ name: String, template: String = "template0") async throws {
        let admin = try await PostgresConnection.connect(baseSettings)
        // CREATE DATABASE copying a template fails while another copy of it runs: retry.
        for attempt in 1...50 {
            do {
                try await admin.execute("CREATE DATABASE \(name) TEMPLATE \(template)")
                break
            } catch let error as PostgresError where error.sqlState == "55006" && attempt < 50 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        await admin.close()
    }

    /// A new database for one test; `migrated: false` gives an empty one.
    public static func create(migrated: Bool = true) async throws -> ConnectionSettings {
        _ = TestMetrics.registry
        let name = "outline_test_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        try await createEmpty(name, template: migrated ? try await template() : "template0")
        return baseSettings.withDatabase(name)
    }

    /// Runs `body` with a pool on a fresh database, then drops the database.
    public static func withDatabase<T>(
        migrated: Bool = true,
        maximumConnections: Int = 8,
        _ body: (PostgresPool, ConnectionSettings) async throws -> T
    ) async throws -> T {
        let settings = try await create(migrated: migrated)
        let pool = PostgresPool(settings: settings, maximumConnections: maximumConnections)
        do {
            let result = try await body(pool, settings)
            await pool.shutdown()
            try await drop(settings)
            return result
        } catch {
            await pool.shutdown()
            try? await drop(settings)
            throw error
        }
    }

    /// Drops a test database: cleanup, so best effort. `WITH (FORCE)` cannot end an
    /// autovacuum worker that happens to be busy there; wait a moment and retry.
    static func drop(_ settings: ConnectionSettings) async throws {
        guard let name = settings.conninfo.split(separator: "?").first?.split(separator: "/").last else { return }
        let admin = try await PostgresConnection.connect(baseSettings)
        for attempt in 1...20 {
            do {
                try await admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                break
            } catch let error as PostgresError where error.sqlState == "42501" || error.sqlState == "55006" {
                if attempt == 20 { break }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        await admin.close()
    }

    /// The database's name, from settings made by `create`.
    public static func name(of settings: ConnectionSettings) -> String {
        String(settings.conninfo.split(separator: "?").first!.split(separator: "/").last!)
    }

    /// Superuser settings pointed at the same test database.
    public static func superuser(for settings: ConnectionSettings) -> ConnectionSettings {
        superuserSettings.withDatabase(name(of: settings))
    }
}
