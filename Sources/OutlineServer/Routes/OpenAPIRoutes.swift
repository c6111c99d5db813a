import Foundation
import Hummingbird

/// `GET /openapi.json`: the API's OpenAPI document, as shipped in the
/// repository (`Sources/OutlineServer/Resources/openapi.json`). A test keeps it
/// and the router's routes equal.
struct OpenAPIRoutes: Sendable {
    static func document() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json", subdirectory: "Resources") else {
            throw APIError(.internalServerError, code: "openapi_missing", message: "The OpenAPI document is not bundled with this build.")
        }
        return try Data(contentsOf: url)
    }

    func register(on router: Router<OutlineRequestContext>) {
        router.get("/openapi.json") { _, _ in JSONResponse.bytes(try Self.document()) }
    }
}
