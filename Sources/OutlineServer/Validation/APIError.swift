import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PostgresClient

/// The API's error body, `{"error": {"code": "...", "message": "..."}}`, with its
/// status: every failure a client sees names what went wrong in its terms.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Extra detail for operators (for example the schema problems behind a 503).
    public var details: [String]
    /// Machine-readable facts a client acts on (the active session's id on a 409,
    /// the field a 400 is about), beside `code` and `message`.
    public var fields: [String: String]
    /// Facts that are numbers (a limit's count and maximum, seconds to wait).
    public var numbers: [String: Int]
    /// Facts that are amounts of money, in dollars (a budget, what was spent).
    public var amounts: [String: Double]
    public var extraHeaders: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: [String] = [], fields: [String: String] = [:],
                numbers: [String: Int] = [:], amounts: [String: Double] = [:], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.fields = fields
        self.numbers = numbers
        self.amounts = amounts
        self.extraHeaders = headers
    }

    /// A 400 about one field of the request, which the body names.
    public static func invalid(_ field: String, _ message: String, code: String = "invalid_request") -> APIError {
        APIError(.badRequest, code: code, message: message, fields: ["field": field])
    }

    public var headers: HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(contentsOf: extraHeaders)
        return headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var error: [String: Any] = ["code": code, "message": message]
        if !details.isEmpty { error["details"] = details }
        for (key, value) in fields { error[key] = value }
        for (key, value) in numbers { error[key] = value }
        for (key, value) in amounts { error[key] = value }
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
            case 415: "unsupported_media_type"
            default: "bad_request"
            }
            throw APIError(error.status, code: code, message: error.body ?? (error.status == .notFound ? "No such route: \(request.method) \(request.uri.path)" : error.status.reasonPhrase))
        } catch let error as PostgresError where error.isBusy {
            // Bounded waits (pool checkout, statement_timeout): a clear 503 to retry.
            throw APIError(.serviceUnavailable, code: "database_busy", message: "The database is too busy to answer now; retry in a moment.",
                           headers: [.retryAfter: "1"])
        } catch let error as PostgresError where error.isConnectionError {
            throw APIError(.serviceUnavailable, code: "database_unavailable", message: "The database cannot be reached now; retry in a moment.",
                           headers: [.retryAfter: "2"])
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, code: "internal_error", message: "The server failed to handle this request; it has been logged.")
        }
    }
}
