import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each route path answers, filled in once every route is registered.
/// Hummingbird's router answers 404 for a known path with an unknown method; the
/// API answers 405 with `Allow`, as HTTP and the OpenAPI document say.
final class RouteMethods: Sendable {
    private struct Route { var components: [Substring], methods: Set<String> }
    private let routes = Mutex<[Route]>([])

    func register<Context>(_ descriptions: [Router<Context>.RouteDescription]) {
        var byPath: [String: Set<String>] = [:]
        for description in descriptions { byPath[description.path.description, default: []].insert(description.method.rawValue) }
        routes.withLock { routes in
            routes = byPath.map { Route(components: $0.key.split(separator: "/"), methods: $0.value) }
        }
    }

    /// The methods of the routes whose pattern matches `path`, or nil when none does.
    func methods(matching path: String) -> Set<String>? {
        let given = path.split(separator: "/")
        let found = routes.withLock { routes in
            routes.filter { Self.matches($0.components, given) }.reduce(into: Set<String>()) { $0.formUnion($1.methods) }
        }
        return found.isEmpty ? nil : found
    }

    private static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        if pattern.last == "**" { return path.count >= pattern.count - 1 && zip(pattern.dropLast(), path).allSatisfy(component) }
        return pattern.count == path.count && zip(pattern, path).allSatisfy(component)
    }

    private static func component(_ pair: (Substring, Substring)) -> Bool {
        pair.0 == pair.1 || pair.0.hasPrefix(":") || pair.0 == "*" || (pair.0.hasPrefix("{") && pair.0.hasSuffix("}"))
    }
}

/// Turns the router's 404 for a known path into 405 with `Allow`.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            guard let methods = routes.methods(matching: request.uri.path) else { throw error }
            let allow = methods.sorted().joined(separator: ", ")
            throw APIError(.methodNotAllowed, code: "method_not_allowed", message: "\(request.method) is not allowed on \(request.uri.path); use \(allow).",
                           headers: [.allow: allow])
        }
    }
}
