import Foundation
import Hummingbird

/// `/api/workflows`: the caller's workflows (for the page's picker) and
/// creating one explicitly; starting a session on a new id also claims it.
struct WorkflowRoutes: Sendable {
    let parts: ServiceParts

    func register(on group: RouterGroup<OutlineRequestContext>) {
        group.get("/workflows") { _, context in
            let identity = try context.requireAPIIdentity()
            return try JSONResponse.make(["workflows": try await parts.directory.workflows(ownedBy: identity.subject)])
        }
        group.post("/workflows") { request, context in try await create(request, context) }
    }

    struct CreateBody: Decodable {
        var workflowId: String?
        var title: String?
    }

    func create(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let body = try await RequestInput.json(CreateBody.self, from: request, context: context)
        let workflowID = try RequestInput.validWorkflowID(body.workflowId ?? "wf-\(UUID().uuidString.lowercased().prefix(13))")
        let title = try body.title.map { try RequestInput.text($0, field: "title", maxLength: 300) }
        let owner = try await parts.directory.claim(workflowID, for: identity.subject, title: title)
        guard owner == identity.subject else {
            throw APIError(.conflict, code: "workflow_exists", message: "The workflow id \(workflowID) is taken; choose another.")
        }
        return try JSONResponse.make(["workflowId": workflowID, "ownerId": owner, "title": title ?? ""], status: .created)
    }
}
