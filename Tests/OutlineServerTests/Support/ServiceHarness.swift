import EventLog
import Foundation
import Metrics
import OpenAIResponses
import OutlineServer
import PostgresClient
import Prometheus
import ProviderHTTP
import SessionRunner
import SimulatedProvider
import Testing
import TestSupport

extension ServiceConfiguration {
    func with(_ change: (inout ServiceConfiguration) -> Void) -> ServiceConfiguration {
        var copy = self
        change(&copy)
        return copy
    }
}

/// A whole OutlineStream instance for a test: real PostgreSQL (a database of
/// its own), the simulated provider on a loopback port, and the server on
/// another, spoken to over real sockets with libcurl.
struct ServiceHarness: Sendable {
    let url: String
    let app: OutlineServerApplication
    let provider: RunningSimulatedProvider
    let pool: PostgresPool
    let http = CurlHTTPClient()
    static let secret = "test-secret-0123456789-abcdefghijklmnop"

    /// One Prometheus registry for the test process (metrics bootstrap once).
    static var metrics: PrometheusCollectorRegistry { TestMetrics.registry }

    static func configuration(provider: RunningSimulatedProvider, name: String = "test-\(UUID().uuidString.prefix(6))") -> ServiceConfiguration {
        ServiceConfiguration(
            tokenSecret: secret,
            provider: ResponsesConfiguration(baseURL: provider.url, stallTimeout: .seconds(5)),
            runner: SessionRunner.Settings(pollInterval: .milliseconds(100), resumeBackoff: .milliseconds(20)),
            hub: LiveEventHub.Settings(heartbeat: .seconds(1), headPoll: .milliseconds(250)),
            leaseTimeToLive: .seconds(3), adoptionInterval: .seconds(1), flagRefreshInterval: .milliseconds(200),
            instanceName: name
        ).with {
            // Tests start many sessions as one user; the limit tests set their own.
            $0.limits = UsageLimits(activeSessionsPerUser: 1000, startsPerUserPerHour: 10_000, startsPerUserPerDay: 10_000,
                                    newWorkflowsPerUserPerHour: 10_000, openStreamsPerUser: 1000)
            $0.budgets = SpendingBudgets(perUser: nil, perWorkflow: nil)
            // The rollback test drives the automatic rollback itself.
            $0.rollback.enabled = false
        }
    }

    /// Runs `body` against a fresh database, provider and server.
    static func with(spec: TranscriptSpec = TranscriptSpec(outputLength: 600, pace: .milliseconds(2)), faults: [SimulatedFault] = [],
                     configure: (inout ServiceConfiguration) -> Void = { _ in },
                     prepare: (PostgresPool) async throws -> Void = { _ in },
                     _ body: (ServiceHarness) async throws -> Void) async throws {
        _ = metrics
        let provider = try await RunningSimulatedProvider.start(SimulatedProviderServer(spec: spec, faults: faults))
        defer { Task { await provider.stop() } }
        try await TestDatabase.withDatabase { pool, _ in
            try await prepare(pool)
            var configuration = Self.configuration(provider: provider)
            configure(&configuration)
            try await serve(pool: pool, provider: provider, configuration: configuration, body)
        }
    }

    /// Serves one more instance on `pool` (for tests with two instances).
    static func serve(pool: PostgresPool, readPool: PostgresPool? = nil, provider: RunningSimulatedProvider, configuration: ServiceConfiguration,
                      _ body: (ServiceHarness) async throws -> Void) async throws {
        let app = OutlineServerApplication(pool: pool, readPool: readPool, migrations: try TestDatabase.migrations(), configuration: configuration,
                                           metricsRegistry: metrics, logger: TestDatabase.quietLogger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await app.run(host: "127.0.0.1", port: 0) { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let harness = ServiceHarness(url: "http://127.0.0.1:\(port)", app: app, provider: provider, pool: pool)
        do {
            try await body(harness)
        } catch {
            task.cancel()
            _ = try? await task.value
            throw error
        }
        task.cancel()
        _ = try? await task.value
    }

    func token(_ user: String, role: AccessToken.Role = .user) async throws -> String {
        try await app.signer.sign(AccessToken(subject: user, role: role, expiresAt: Date().addingTimeInterval(3600)))
    }

    struct Reply: Sendable {
        var status: Int
        var body: [UInt8]
        var head: HTTPResponseHead
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One request; `json` is serialized as the body with its content type.
    func call(_ method: String, _ path: String, token: String? = nil, json: Any? = nil, body: [UInt8]? = nil,
              headers: [(name: String, value: String)] = []) async throws -> Reply {
        var headers = headers
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        var bytes = body
        if let json {
            bytes = Array(try JSONSerialization.data(withJSONObject: json))
            if !headers.contains(where: { $0.name.lowercased() == "content-type" }) { headers.append(("Content-Type", "application/json")) }
        }
        // A deadline against a hung server, not a timing: 100 concurrent starts on one
        // workflow queue on its lock, and on a machine with both cores busy the last of
        // them took more than 30 s (a fresh-clone busy run failed so).
        let (head, reply) = try await http.send(ProviderHTTP.HTTPRequest(method: method, url: url + path, headers: headers, body: bytes, totalTimeout: .seconds(120)))
        return Reply(status: head.status, body: reply, head: head)
    }

    static func base(_ workflow: String) -> String { "/api/workflows/\(workflow)/outline-generation" }

    /// Starts a V3 session that skips clarification; returns its id and stream token.
    func startStreaming(_ workflow: String, token: String, prompt: String = "Tidal energy in Europe") async throws -> (session: String, streamToken: String) {
        let reply = try await call("POST", Self.base(workflow) + "/start", token: token, json: ["prompt": prompt, "skipClarification": true])
        try #require(reply.status == 201, "start answered \(reply.status): \(reply.text)")
        return (try #require(reply.json?["sessionId"] as? String), try #require(reply.json?["streamToken"] as? String))
    }

    /// The session's read-model row once it has ended.
    func waitUntilEnded(_ workflow: String, session: String, token: String, timeout: Duration = .seconds(60)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let reply = try await call("GET", Self.base(workflow) + "/status?sessionId=\(session)", token: token)
            if let status = reply.json?["status"] as? String, ["completed", "failed", "cancelled"].contains(status) { return reply.json! }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("session \(session) did not end within \(timeout)")
        return [:]
    }

    /// The session's whole log, decoded.
    func log(_ session: String) async throws -> [RecordedEvent] {
        try await EventStore(pool: pool).read(session: try #require(UUID(uuidString: session)), limit: 1_000_000)
    }
}
