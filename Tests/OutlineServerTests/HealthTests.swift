import EventLog
import Foundation
import Hummingbird
import OutlineServer
import PostgresClient
import ProviderHTTP
import Testing
import TestSupport

@Suite("The HTTP server on a real socket: health, readiness, JSON errors")
struct HealthTests {
    /// Serves `server` on a free port for the duration of `body`.
    static func serving<T>(_ server: OutlineServerApplication, _ body: (String) async throws -> T) async throws -> T {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let application = try server.application(host: "127.0.0.1", port: 0) { continuation.yield($0) }
        let task = Task { try await application.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        defer { task.cancel() }
        return try await body("http://127.0.0.1:\(port)")
    }

    static func json(_ body: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }

    @Test("a migrated database is ready; /healthz answers; unknown routes get a JSON 404")
    func ready() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let server = OutlineServerApplication(pool: pool, migrations: try TestDatabase.migrations(), logger: TestDatabase.quietLogger)
            try await server.checkSchema()
            try await Self.serving(server) { url in
                let http = CurlHTTPClient()
                let health = try await http.send(ProviderHTTP.HTTPRequest(url: url + "/healthz"))
                #expect(health.head.status == 200)
                let ready = try await http.send(ProviderHTTP.HTTPRequest(url: url + "/readyz"))
                #expect(ready.head.status == 200)
                #expect(try Self.json(ready.body)["status"] as? String == "ready")
                let missing = try await http.send(ProviderHTTP.HTTPRequest(url: url + "/no/such/route"))
                #expect(missing.head.status == 404)
                #expect(missing.head.header("content-type") == "application/json")
                let error = try #require(try Self.json(missing.body)["error"] as? [String: Any])
                #expect(error["code"] as? String == "not_found")
            }
        }
    }

    @Test("a schema that is behind is not ready (503 naming the pending migrations), and the server refuses to start on it")
    func notReady() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            let migrations = try TestDatabase.migrations()
            try await Migrator(pool: pool, migrations: Array(migrations.prefix(3)), logger: TestDatabase.quietLogger).up()
            let server = OutlineServerApplication(pool: pool, migrations: migrations, logger: TestDatabase.quietLogger)
            await #expect(throws: MigrationError.schemaBehind(pending: migrations.dropFirst(3).map(\.version))) { try await server.checkSchema() }
            try await Self.serving(server) { url in
                // Anonymous callers learn only that it is not ready.
                let ready = try await CurlHTTPClient().send(ProviderHTTP.HTTPRequest(url: url + "/readyz"))
                #expect(ready.head.status == 503)
                let error = try #require(try Self.json(ready.body)["error"] as? [String: Any])
                #expect(error["code"] as? String == "schema_not_ready")
                #expect(error["details"] == nil)
                // An admin's token also gets what is wrong.
                let admin = try await server.signer.sign(AccessToken(subject: "ops", role: .admin, expiresAt: Date().addingTimeInterval(600)))
                let detailed = try await CurlHTTPClient().send(ProviderHTTP.HTTPRequest(url: url + "/readyz", headers: [("Authorization", "Bearer \(admin)")]))
                let details = try #require(try Self.json(detailed.body)["error"] as? [String: Any])
                #expect((details["details"] as? [String])?.contains { $0.contains("migration 4") } == true)
            }
        }
    }
}
