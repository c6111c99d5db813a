import HTTPTypes
import Hummingbird

/// Echoes the request id Hummingbird put in the request's logger metadata as
/// `X-Request-Id`, so a user's report and the server's log lines meet.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    static var header: HTTPField.Name { HTTPField.Name("X-Request-Id")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[Self.header] = context.id
            return response
        } catch let error as APIError {
            var error = error
            error.extraHeaders[Self.header] = context.id
            throw error
        }
    }
}
