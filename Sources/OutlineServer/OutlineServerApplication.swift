import EventLog
import Foundation
import Hummingbird
import Logging
import OpenAIResponses
import OutlineBasics
import OutlineProjections
import PostgresClient
import Prometheus
import ServiceLifecycle
import SessionRunner
import UnixSignals

/// The OutlineStream service, assembled: the HTTP routes, the background
/// launcher that runs sessions, and the live hub that feeds SSE streams, over
/// one database pool. `run` serves until cancelled or (with signals) SIGTERM.
public struct OutlineServerApplication: Sendable {
    public let pool: PostgresPool
    public let migrations: [Migration]
    public let configuration: ServiceConfiguration
    public let logger: Logger
    public let store: EventStore
    public let hub: LiveEventHub
    public let launcher: SessionLauncher
    public let flags: FeatureFlags
    let parts: ServiceParts
    let metricsRegistry: PrometheusCollectorRegistry

    /// `readPool`, on a streaming standby (`DATABASE_READ_URL`), serves the reads
    /// that tolerate its lag (`ReplicaAwareReads`); writes, the live feed and
    /// LISTEN stay on `pool`, the primary.
    public init(pool: PostgresPool, readPool: PostgresPool? = nil, migrations: [Migration],
                configuration: ServiceConfiguration = ServiceConfiguration(tokenSecret: UUID().uuidString + UUID().uuidString),
                metricsRegistry: PrometheusCollectorRegistry = PrometheusMetricsFactory.defaultRegistry, logger: Logger = Logger(label: "outlinestream.server")) {
        self.pool = pool
        self.migrations = migrations
        self.configuration = configuration
        self.logger = logger
        self.metricsRegistry = metricsRegistry
        store = EventStore(pool: pool, projections: [OutlineSessionsProjection()], commitPause: configuration.faultCommitPauseFile.map { CommitPauseHook(armFile: $0, minimumSessions: 1) },
                           logger: logger)
        let spending = SpendingLedger(pool: pool, budgets: configuration.budgets, logger: logger)
        let runner = SessionRunner(store: store, writer: GroupCommitWriter(store: store), client: ResponsesClient(configuration: configuration.provider, logger: logger),
                                   settings: configuration.runner, spendingWatch: spending, webhookInbox: WebhookDeliveries(pool: pool), logger: logger)
        let supervisor = SessionSupervisor(runner: runner, leases: SessionLeases(pool: pool, owner: configuration.instanceName, timeToLive: configuration.leaseTimeToLive), logger: logger)
        launcher = SessionLauncher(supervisor: supervisor, adoptionInterval: configuration.adoptionInterval, logger: logger)
        hub = LiveEventHub(store: store, listenerSettings: pool.settings, settings: configuration.hub, logger: logger)
        flags = FeatureFlags(pool: pool, defaults: .init(useStreaming: configuration.useStreaming, rolloutPercent: configuration.rolloutPercent),
                             refreshInterval: configuration.flagRefreshInterval)
        let limits = UsageLimitGuard(limits: configuration.limits)
        let reads = ReplicaAwareReads(primary: store, standby: readPool.map { EventStore(pool: $0, logger: logger) }, patience: configuration.replicaPatience, logger: logger)
        parts = ServiceParts(store: store, reads: reads, sessions: OutlineSessions(store: store), directory: WorkflowDirectory(pool: pool, limits: limits), limits: limits, spending: spending,
                             streamGate: StreamGate(maximumPerUser: configuration.limits.openStreamsPerUser), flags: flags,
                             launcher: launcher, hub: hub, signer: TokenSigner(secret: configuration.tokenSecret),
                             rollback: AutomaticRollback(pool: pool, flags: flags, settings: configuration.rollback, logger: logger),
                             streamTokenLifetime: configuration.streamTokenLifetime, logger: logger)
    }

    public var signer: TokenSigner { parts.signer }

    /// The rollback that triggers itself (`configuration.rollback`).
    public var rollback: AutomaticRollback { parts.rollback }

    /// The service's pool: `configuration.database`'s bounds on checkout,
    /// statements and connects, and TCP keepalives.
    public static func pool(settings: ConnectionSettings, configuration: ServiceConfiguration, maximumConnections: Int = 16, logger: Logger) -> PostgresPool {
        PostgresPool(settings: configuration.database.applied(to: settings), maximumConnections: maximumConnections,
                     checkoutTimeout: configuration.database.checkoutTimeout, logger: logger)
    }

    public func router() throws -> Router<OutlineRequestContext> {
        let router = Router(context: OutlineRequestContext.self)
        let routeMethods = RouteMethods()
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: RequestIDMiddleware())
        // A server span per request, continuing a W3C traceparent when the caller sent one (no-op until a tracer is bootstrapped).
        router.add(middleware: TracingMiddleware())
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware(routes: routeMethods))
        router.add(middleware: MetricsMiddleware())
        HealthRoutes(pool: pool, migrator: Migrator(pool: pool, migrations: migrations, logger: logger), signer: parts.signer).register(on: router)
        let gate = parts.streamGate
        MetricsRoutes(registry: metricsRegistry, pool: pool, limits: configuration.limits, budgets: configuration.budgets, openStreams: { gate.openByUser }).register(on: router)
        OpenAPIRoutes().register(on: router)
        WebhookRoutes(verifier: configuration.webhookSecrets.isEmpty ? nil : StandardWebhook(secrets: configuration.webhookSecrets, toleranceSeconds: configuration.webhookToleranceSeconds),
                      deliveries: WebhookDeliveries(pool: pool)).register(on: router)
        let auth = AuthMiddleware(signer: parts.signer)
        let api = router.group("/api").add(middleware: auth)
        WorkflowRoutes(parts: parts).register(on: api)
        SessionDurations.register(on: api, pool: pool)
        SessionEventsRoutes(parts: parts).register(on: api)
        DurableStreamRoutes(parts: parts).register(on: api)
        OutlineGenerationRoutes(parts: parts).register(on: api.group("/workflows/:workflowId/outline-generation"))
        let admin = router.group("/admin").add(middleware: auth)
        FlagRoutes(parts: parts).register(api: api, admin: admin)
        ExportRoutes(parts: parts).register(api: api, admin: admin)
        let web = try WebRoutes()
        web.register(on: router)
        DiagnosticsRoutes(parts: parts, pool: pool, migrator: Migrator(pool: pool, migrations: migrations, logger: logger), web: web, auth: auth).register(on: router)
        routeMethods.register(router.routes)
        return router
    }

    /// Refuses to serve on a schema that is behind or was changed: the message
    /// says what to run. Reverted streaming migrations are the schema rollback:
    /// the service runs, V2 only, and says so.
    public func checkSchema() async throws {
        let reverted = try await Migrator(pool: pool, migrations: migrations, logger: logger).requireServable()
        if !reverted.isEmpty {
            logger.warning("streaming migrations are reverted: serving the V2 polling API only until `outline-admin migrate up`",
                           metadata: ["reverted": "\(reverted.map(String.init).joined(separator: ", "))"])
        }
    }

    /// The HTTP application alone, listening on `host:port` (0: any free port);
    /// `onListening` gets the bound port.
    public func application(host: String, port: Int, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol & Service {
        let writeTimeout = configuration.hub.writeTimeout
        return Application(
            router: OwnTaskRouter(builder: try router()),
            server: .http1(configuration: .init(additionalChannelHandlers: [WriteStallWatchdog(timeout: writeTimeout)],
                                                idleTimeout: .nanoseconds(configuration.httpIdleTimeout.saturatingNanoseconds))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "OutlineStream"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    /// Runs everything until the task is cancelled or, with `signals`, until one
    /// arrives. Graceful shutdown order: the hub ends SSE streams (clients
    /// reconnect elsewhere), the server stops accepting and finishes requests,
    /// then the launcher stops its runs and releases their leases.
    /// `observability` (the trace exporter) runs first, so that it shuts down last and exports the final spans.
    public func run(host: String, port: Int, signals: [UnixSignal] = [], observability: (any Service)? = nil,
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = ServiceGroup(configuration: .init(
            services: (observability.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []) + [
                .init(service: launcher),
                .init(service: try application(host: host, port: port, onListening: onListening)),
                .init(service: hub),
                .init(service: ProjectorService(projector: SessionActivityProjector(pool: pool, logger: logger))),
                .init(service: CompactionService(compactor: Compactor.background(pool: pool, packSessions: configuration.compaction.packSessions,
                                                                                      packWait: configuration.compaction.packWait, logger: logger), partitions: LogPartitions(pool: pool, logger: logger),
                                                 retention: SessionRetention(pool: pool, logger: logger),
                                                 settings: configuration.compaction, logger: logger)),
                // Disabled, it returns at once: that must not end the instance.
                .init(service: rollback, successTerminationBehavior: .ignore),
            ],
            gracefulShutdownSignals: signals,
            logger: logger
        ))
        try await group.run()
    }
}
