import Foundation
import Hummingbird

/// The feature flags: `GET /api/flags?workflowId=` tells the page whether a
/// workflow streams; `/admin/flags` reads and sets them (admin role), each
/// change recorded with who made it and why.
struct FlagRoutes: Sendable {
    let parts: ServiceParts

    func register(api: RouterGroup<OutlineRequestContext>, admin: RouterGroup<OutlineRequestContext>) {
        api.get("/flags") { request, context in
            _ = try context.requireAPIIdentity()
            let state = try await parts.flags.current()
            var body = FlagsView(state)
            if let given = request.uri.queryParameters.get("workflowId") {
                let workflowID = try RequestInput.validWorkflowID(String(given))
                body.workflowId = String(workflowID)
                body.streaming = state.streams(workflowID: String(workflowID))
            }
            return try JSONResponse.make(body)
        }
        admin.get("/flags") { _, context in
            _ = try context.requireAdmin()
            return try JSONResponse.make(FlagsWithHistory(flags: FlagsView(try await parts.flags.current()), history: try await parts.flags.history(limit: 50)))
        }
        admin.put("/flags") { request, context in try await set(request, context) }
        admin.post("/flags") { request, context in try await set(request, context) }
    }

    struct FlagsView: Encodable {
        var useStreaming: Bool
        var rolloutPercent: Int
        /// False while the streaming migrations are reverted: V2 only until `migrate up`.
        var streamingSchemaInstalled: Bool
        var workflowId: String?
        var streaming: Bool?
        init(_ state: FeatureFlags.State) {
            useStreaming = state.useStreaming
            rolloutPercent = state.rolloutPercent
            streamingSchemaInstalled = state.streamingSchemaInstalled
        }
    }

    struct FlagsWithHistory: Encodable {
        var flags: FlagsView
        var history: [FeatureFlags.Change]
    }

    struct SetBody: Decodable {
        var useStreaming: Bool?
        var rolloutPercent: Int?
        var reason: String?
    }

    func set(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let body = try await RequestInput.json(SetBody.self, from: request, context: context)
        guard body.useStreaming != nil || body.rolloutPercent != nil else {
            throw APIError.invalid("useStreaming", "Send useStreaming (true or false), rolloutPercent (0–100), or both.", code: "missing_field")
        }
        if let percent = body.rolloutPercent, !(0...100).contains(percent) {
            throw APIError.invalid("rolloutPercent", "rolloutPercent must be from 0 to 100.", code: "invalid_field")
        }
        let reason = try body.reason.map { try RequestInput.text($0, field: "reason", maxLength: 500) }
        let state: FeatureFlags.State
        do {
            state = try await parts.flags.set(useStreaming: body.useStreaming, rolloutPercent: body.rolloutPercent, by: identity.subject, reason: reason)
        } catch FeatureFlagsError.streamingSchemaReverted {
            throw APIError(.conflict, code: "streaming_schema_reverted",
                           message: "The streaming migrations are reverted (schema rollback): streaming stays off and flags cannot be set until `outline-admin migrate up`.")
        }
        parts.logger.notice("feature flags changed", metadata: [
            "by": "\(identity.subject)", "use_streaming": "\(state.useStreaming)", "rollout_percent": "\(state.rolloutPercent)",
        ])
        return try JSONResponse.make(FlagsView(state))
    }
}
