import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The API's error body, `{"error": {"code": "...", "message": "..."}}`, with its
/// status: every failure a client sees names what went wrong in its terms.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Extra detail for operators (for example the schema problems behind a 503).
    public var details: [String]

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: [String] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public var headers: HTTPFields { [.contentType: "application/json"] }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var error: [String: Any] = ["code": code, "message": message]
        if !details.isEmpty { error["details"] = details }
        let data = try JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error a handler throws (including the router's own 404 and 405)
/// into the API's JSON error body; unexpected errors become a 500 that says so
/// without leaking internals.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let code = switch error.status.code {
            case 404: "not_found"
            case 405: "method_not_allowed"
            case 413: "body_too_large"
            default: "bad_request"
            }
            throw APIError(error.status, code: code, message: error.body ?? (error.status == .notFound ? "No such route: \(request.method) \(request.uri.path)" : error.status.reasonPhrase))
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, code: "internal_error", message: "The server failed to handle this request; it has been logged.")
        }
    }
}
