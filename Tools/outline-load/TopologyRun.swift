import EventLog
import Foundation
import Logging
import OutlineAuth
import OutlineSchema
import PostgresClient
import ProviderHTTP
import SimulatedProvider
#if canImport(Glibc)
import Glibc
#endif

/// One run of the production topology on this host: a scratch database on the
/// primary (streamed to the standby when one is given, which serves the reads
/// that tolerate lag), the simulated provider in this process, `instances`
/// `outline-server` children and nginx in front of them, configured by the same
/// script as `Tools/run.sh --topology`. Handed to `body`, then all of it stopped
/// and the database dropped, whatever `body` did.
struct TopologyRun {
    let primary: ConnectionSettings
    /// The primary's streaming standby (nil: every read goes to the primary).
    let standby: ConnectionSettings?
    let serverBinary: String
    let instances: Int
    var paceMs = 25
    var outputLength = 3000
    /// Hold every research run before its first event until `release` is called.
    var holdRuns = true

    struct Parts {
        /// nginx: where clients connect.
        let proxyURL: String
        let nginx: Process
        let servers: [LoadStack]
        /// The scratch database on the primary.
        let pool: PostgresPool
        let signer: TokenSigner
        let provider: RunningSimulatedProvider
        let primaryProbe: DatabaseServerProbe
        let standbyProbe: DatabaseServerProbe?
        var release: @Sendable () async -> Void { { [state = provider.state] in await state.releaseAll() } }
    }

    func callAsFunction<T>(_ body: (Parts) async throws -> T) async throws -> T {
        var logger = Logger(label: "outline-load")
        logger.logLevel = .warning
        let name = "outline_topology_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PostgresConnection.connect(primary, logger: logger)
        try await admin.execute("CREATE DATABASE \(name)")
        let pool = PostgresPool(settings: primary.withDatabase(name), maximumConnections: 4, logger: logger)
        let spec = TranscriptSpec(outputLength: outputLength, pace: .milliseconds(paceMs))
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: spec, faults: holdRuns ? [.holdAt(events: 1)] : []))
        var servers: [LoadStack] = []
        var nginx: Process?
        var probes: [DatabaseServerProbe] = []
        func tearDown() async {
            for server in servers { await server.stop() }
            if let nginx { for member in FloorScenario.tree(nginx.processIdentifier).reversed() { kill(member, SIGKILL) } }
            await provider.stop()
            for probe in probes { await probe.close() }
            await pool.shutdown()
            try? await admin.execute("DROP DATABASE \(name) WITH (FORCE)")
            await admin.close()
        }
        do {
            try await Migrator(pool: pool, migrations: try Migration.load(from: SchemaFiles.directory()!), logger: logger).up()
            let primaryProbe = try await DatabaseServerProbe.connect(primary, measuring: name, logger: logger)
            probes.append(primaryProbe)
            var standbyProbe: DatabaseServerProbe?
            if let standby {
                try await Self.waitForReplay(of: name, on: standby, logger: logger)
                standbyProbe = try await DatabaseServerProbe.connect(standby, measuring: name, logger: logger)
                probes.append(standbyProbe!)
            }
            let secret = "load-" + UUID().uuidString + UUID().uuidString
            for index in 1...instances {
                // One application_name per instance: the primary's connections, told apart.
                let label = [("application_name", "outline-instance-\(index)")]
                var environment: [String: String] = [:]
                if let standby { environment["DATABASE_READ_URL"] = standby.withDatabase(name).adding(label).conninfo }
                servers.append(try await LoadStack.start(binary: serverBinary, databaseURL: primary.withDatabase(name).adding(label).conninfo,
                                                         providerURL: provider.url, secret: secret, extraEnvironment: environment, instance: index))
            }
            let (process, proxyURL) = try await Self.startNginx(upstreams: servers.map(\.url))
            nginx = process
            let value = try await body(Parts(proxyURL: proxyURL, nginx: process, servers: servers, pool: pool, signer: TokenSigner(secret: secret),
                                             provider: provider, primaryProbe: primaryProbe, standbyProbe: standbyProbe))
            await tearDown()
            return value
        } catch {
            await tearDown()
            throw error
        }
    }

    /// The standby has replayed the database's creation and migrations.
    static func waitForReplay(of database: String, on standby: ConnectionSettings, logger: Logger) async throws {
        for _ in 0..<300 {
            if let connection = try? await PostgresConnection.connect(standby.withDatabase(database), logger: logger) {
                let ready = (try? await connection.query("SELECT count(*) FROM outline_sessions")) != nil
                await connection.close()
                if ready { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LoadError("the standby did not replay database \(database) within 30 s (is it streaming? Tools/dev/postgres.sh standby status)")
    }

    /// nginx in front of the instances, with `Tools/dev/nginx-topology.sh`'s configuration (the one `Tools/run.sh --topology` uses).
    static func startNginx(upstreams: [String]) async throws -> (Process, String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") else { throw LoadError("nginx is not installed: run Tools/dev/nginx-deps.sh") }
        let script = try configurationScript()
        let port = try FloorScenario.freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("outline-load-topology-\(getpid())")
        let configure = Process()
        configure.executableURL = URL(fileURLWithPath: "/bin/bash")
        configure.arguments = [script, directory.path, String(port)] + upstreams.map { String($0.split(separator: ":").last!) }
        configure.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try configure.run()
        configure.waitUntilExit()
        guard configure.terminationStatus == 0 else { throw LoadError("\(script) failed (status \(configure.terminationStatus))") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-p", directory.path, "-c", directory.appendingPathComponent("nginx.conf").path, "-e", directory.path + "/error.log", "-g", "daemon off;"]
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let http = CurlHTTPClient()
        let url = "http://127.0.0.1:\(port)"
        for _ in 0..<100 {
            if let (head, _) = try? await http.send(ProviderHTTP.HTTPRequest(url: url + "/healthz")), head.status == 200 { return (process, url) }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        for member in FloorScenario.tree(process.processIdentifier).reversed() { kill(member, SIGKILL) }
        throw LoadError("nginx did not start in front of the instances (see \(directory.path)/error.log)")
    }

    /// `Tools/dev/nginx-topology.sh` of this checkout: found from the working directory or from this program's folder upwards.
    static func configurationScript() throws -> String {
        let relative = "Tools/dev/nginx-topology.sh"
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().standardizedFileURL
        while folder.path != "/" { candidates.append(folder); folder = folder.deletingLastPathComponent() }
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate.appendingPathComponent(relative).path) {
            return candidate.appendingPathComponent(relative).path
        }
        throw LoadError("\(relative) not found: run outline-load from the checkout")
    }
}
