import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's core storage plus who the
/// request acts for, which `AuthMiddleware` fills in on `/api` and `/admin`.
public struct OutlineRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The verified token of the caller; nil on public routes.
    public var identity: AccessToken?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// JSON bodies of this API are small; anything bigger is refused with 413.
    public var maxUploadSize: Int { 64 * 1024 }

    /// The caller, for routes behind `AuthMiddleware`.
    func requireIdentity() throws -> AccessToken {
        guard let identity else {
            throw APIError(.unauthorized, code: "unauthorized", message: "This route needs a bearer token (Authorization: Bearer <token>).")
        }
        return identity
    }

    /// The caller with a full API token: stream tokens open one session's stream and nothing else.
    func requireAPIIdentity() throws -> AccessToken {
        let identity = try requireIdentity()
        guard identity.session == nil else {
            throw APIError(.forbidden, code: "stream_token_not_allowed", message: "A stream token only opens the stream of its session; send your API token for this route.")
        }
        return identity
    }

    func requireAdmin() throws -> AccessToken {
        let identity = try requireAPIIdentity()
        guard identity.role == .admin else {
            throw APIError(.forbidden, code: "admin_required", message: "This route needs the admin role.")
        }
        return identity
    }
}
