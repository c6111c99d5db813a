import EventLog
import Foundation
import Hummingbird
import NIOCore
import PostgresClient

/// `/healthz` (the process answers) and `/readyz` (the database answers and its
/// schema is what this build expects: every migration applied unchanged, the
/// append-only triggers and key indexes in place). A load balancer sends
/// traffic only to ready instances.
struct HealthRoutes: Sendable {
    let pool: PostgresPool
    let migrator: Migrator

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/healthz") { _, _ in Self.json(["status": "ok"]) }
        router.get("/readyz") { _, _ in try await ready() }
    }

    func ready() async throws -> Response {
        let health: SchemaHealth
        do {
            health = try await SchemaHealth.check(migrator)
        } catch {
            throw APIError(.serviceUnavailable, code: "database_unreachable", message: "The database does not answer: \(error)")
        }
        guard health.isHealthy else {
            throw APIError(.serviceUnavailable, code: "schema_not_ready",
                           message: "The database schema is not what this build expects; run `outline-admin migrate up`.", details: health.problems)
        }
        if !health.streamingReverted.isEmpty {
            return Self.json(["status": "ready", "streaming": false,
                              "note": "streaming migrations \(health.streamingReverted.map(String.init).joined(separator: ", ")) are reverted: V2 polling only"])
        }
        return Self.json(["status": "ready", "streaming": true])
    }

    static func json(_ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
