import EventLog
import Hummingbird
import Logging
import PostgresClient

/// The OutlineStream HTTP service, assembled: its routes over one database pool.
/// (Endpoints arrive route group by route group; see README for what is served.)
public struct OutlineServerApplication: Sendable {
    public let pool: PostgresPool
    public let migrations: [Migration]
    public let logger: Logger

    public init(pool: PostgresPool, migrations: [Migration], logger: Logger = Logger(label: "outlinestream.server")) {
        self.pool = pool
        self.migrations = migrations
        self.logger = logger
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        HealthRoutes(pool: pool, migrator: Migrator(pool: pool, migrations: migrations, logger: logger)).register(on: router)
        return router
    }

    /// Refuses to serve on a schema that is behind or was changed: the message
    /// says what to run.
    public func checkSchema() async throws {
        try await Migrator(pool: pool, migrations: migrations, logger: logger).requireCurrent()
    }

    /// An application listening on `host:port` (0: any free port); `onListening`
    /// gets the bound port.
    public func application(host: String, port: Int, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "OutlineStream"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
