import EventLog
import Foundation
import Logging
import OutlineAuth
import OutlineSchema
import PostgresClient
import SimulatedProvider

/// One run of the real service: a scratch database (migrated), the simulated
/// provider in this process and `outline-server` as a child, handed to `body`,
/// then all of it stopped and the database dropped, whatever `body` did.
struct ServiceRun {
    let base: ConnectionSettings
    let serverBinary: String
    var paceMs = 25
    var outputLength = 3000
    /// Hold every research run before its first event until `release` is called.
    var holdRuns = false
    /// Extra environment for the server.
    var environment: [String: String] = [:]

    struct Parts {
        let stack: LoadStack
        let pool: PostgresPool
        let signer: TokenSigner
        let provider: RunningSimulatedProvider
        /// Lets every held run go (no-op unless `holdRuns`).
        var release: @Sendable () async -> Void { { [state = provider.state] in await state.releaseAll() } }
    }

    func callAsFunction<T>(_ body: (Parts) async throws -> T) async throws -> T {
        var logger = Logger(label: "outline-load")
        logger.logLevel = .warning
        let name = "outline_load_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PostgresConnection.connect(base, logger: logger)
        try await admin.execute("CREATE DATABASE \(name)")
        let pool = PostgresPool(settings: base.withDatabase(name), maximumConnections: 4, logger: logger)
        let spec = TranscriptSpec(outputLength: outputLength, pace: .milliseconds(paceMs))
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: spec, faults: holdRuns ? [.holdAt(events: 1)] : []))
        var stack: LoadStack?
        func tearDown() async {
            await stack?.stop()
            await provider.stop()
            await pool.shutdown()
            try? await admin.execute("DROP DATABASE \(name) WITH (FORCE)")
            await admin.close()
        }
        do {
            try await Migrator(pool: pool, migrations: try Migration.load(from: SchemaFiles.directory()!), logger: logger).up()
            let secret = "load-" + UUID().uuidString + UUID().uuidString
            let running = try await LoadStack.start(binary: serverBinary, databaseURL: base.withDatabase(name).conninfo, providerURL: provider.url, secret: secret,
                                                    extraEnvironment: environment)
            stack = running
            let value = try await body(Parts(stack: running, pool: pool, signer: TokenSigner(secret: secret), provider: provider))
            await tearDown()
            return value
        } catch {
            await tearDown()
            throw error
        }
    }
}
