import Foundation
import HTTPTypes
import Hummingbird

/// Verifies the caller's HS256 token on every route it guards.
///
/// API callers send `Authorization: Bearer <token>`. EventSource cannot set
/// headers, so a session-scoped stream token may come as `?token=` instead; an
/// API token in the query is refused (query strings end up in logs). Which
/// workflows and sessions the caller reaches is each route's check.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = OutlineRequestContext
    let signer: TokenSigner

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw Self.unauthorized("The Authorization header must be `Bearer <token>`.")
            }
            context.identity = try await verify(String(parts[1]))
        } else if let query = request.uri.queryParameters.get("token") {
            let token = try await verify(query)
            guard token.session != nil else {
                throw Self.unauthorized("Only stream tokens may be sent as ?token=; send API tokens in the Authorization header.")
            }
            context.identity = token
        } else {
            throw Self.unauthorized("This route needs a bearer token (Authorization: Bearer <token>).")
        }
        context.logger[metadataKey: "user"] = "\(context.identity?.subject ?? "-")"
        return try await next(request, context)
    }

    private func verify(_ text: String) async throws -> AccessToken {
        do {
            return try await signer.verify(text)
        } catch let failure as TokenSigner.Failure {
            throw Self.unauthorized("The token was refused: \(failure).")
        }
    }

    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, code: "unauthorized", message: message, headers: [.wwwAuthenticate: "Bearer"])
    }
}
