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
    let readiness: ReadinessCheck
    let signer: TokenSigner

    init(pool: PostgresPool, migrator: Migrator, signer: TokenSigner) {
        readiness = ReadinessCheck(migrator: migrator)
        self.signer = signer
    }

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/healthz") { _, _ in Self.fixed(Self.healthy) }
        router.get("/readyz") { request, _ in try await ready(request) }
    }

    /// Anonymous callers learn ready or not; an admin's bearer token also gets
    /// what is wrong (which may name the database's host or schema).
    func ready(_ request: Request) async throws -> Response {
        let result = await readiness.current()
        // The common answer, for the common (anonymous) caller, is a constant: a
        // load balancer or an attacker polling readiness costs no encoding.
        if result.ready, result.streamingReverted.isEmpty { return Self.fixed(Self.readyStreaming) }
        var admin = false
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer "),
           let token = try? await signer.verify(String(header.dropFirst(7))) {
            admin = token.role == .admin && token.session == nil
        }
        guard result.ready else {
            let message = result.code == "database_unreachable" ? "The database does not answer." : "The database schema is not what this build expects; run `outline-admin migrate up`."
            throw APIError(.serviceUnavailable, code: result.code ?? "not_ready", message: message, details: admin ? result.problems : [])
        }
        if !result.streamingReverted.isEmpty {
            var body: [String: Any] = ["status": "ready", "streaming": false]
            if admin { body["note"] = "streaming migrations \(result.streamingReverted.map(String.init).joined(separator: ", ")) are reverted: V2 polling only" }
            return Self.json(body)
        }
        return Self.fixed(Self.readyStreaming)
    }

    private static let healthy = ByteBuffer(string: #"{"status":"ok"}"#)
    private static let readyStreaming = ByteBuffer(string: #"{"status":"ready","streaming":true}"#)

    private static func fixed(_ body: ByteBuffer) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
    }

    static func json(_ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
