import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The generation page at `/` and its assets: plain HTML, CSS and JavaScript
/// shipped in the server's bundle (`Resources/web`), read once at start-up.
struct WebRoutes: Sendable {
    struct Asset: Sendable {
        var bytes: ByteBuffer
        var contentType: String
    }

    let assets: [String: Asset]

    init() throws {
        var assets: [String: Asset] = [:]
        for (name, type) in [("index.html", "text/html; charset=utf-8"), ("admin.html", "text/html; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"),
                             ("admin.js", "text/javascript; charset=utf-8"), ("charts.js", "text/javascript; charset=utf-8"),
                             ("timeline.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")] {
            let parts = name.split(separator: ".")
            guard let url = Bundle.module.url(forResource: String(parts[0]), withExtension: String(parts[1]), subdirectory: "Resources/web") else {
                throw APIError(.internalServerError, code: "asset_missing", message: "The web page's \(name) is not bundled with this build.")
            }
            assets[name] = Asset(bytes: ByteBuffer(bytes: try Data(contentsOf: url)), contentType: type)
        }
        self.assets = assets
    }

    func response(_ name: String) throws -> Response {
        guard let asset = assets[name] else { throw APIError(.notFound, code: "not_found", message: "No such asset: \(name)") }
        return Response(status: .ok, headers: [.contentType: asset.contentType, .cacheControl: "no-cache"], body: ResponseBody(byteBuffer: asset.bytes))
    }

    func register(on router: Router<OutlineRequestContext>) {
        router.get("/") { _, _ in try response("index.html") }
        router.get("/assets/:file") { _, context in
            let file = context.parameters.get("file") ?? ""
            guard ["app.js", "app.css", "admin.js", "charts.js", "timeline.js"].contains(file) else { throw APIError(.notFound, code: "not_found", message: "No such asset: \(file)") }
            return try response(file)
        }
    }
}
