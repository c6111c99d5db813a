import EventLog
import Foundation
import Hummingbird

/// `/api/workflows`: the caller's workflows (for the page's picker) and
/// creating one explicitly; starting a session on a new id also makes it. Ids
/// are per user (`WorkflowKey`): two users may both have a "wf-1".
struct WorkflowRoutes: Sendable {
    let parts: ServiceParts

    func register(on group: RouterGroup<OutlineRequestContext>) {
        group.get("/workflows") { _, context in
            let identity = try context.requireAPIIdentity()
            return try JSONResponse.make(["workflows": try await parts.directory.workflows(ownedBy: identity.subject)])
        }
        group.post("/workflows") { request, context in try await create(request, context) }
        // What the caller spent this budget period (and on one workflow of theirs), against the budgets.
        group.get("/spending") { request, context in
            let identity = try context.requireAPIIdentity()
            let workflow = try request.uri.queryParameters.get("workflowId").map { WorkflowKey(owner: identity.subject, id: try RequestInput.validWorkflowID(String($0))) }
            return try JSONResponse.make(try await parts.spending.own(user: identity.subject, workflow: workflow))
        }
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
        // In the caller's own namespace: only their own workflow can be in the way.
        guard try await parts.directory.claim(WorkflowKey(owner: identity.subject, id: workflowID), title: title) else {
            throw APIError(.conflict, code: "workflow_exists", message: "You already have a workflow \(workflowID); choose another id.")
        }
        return try JSONResponse.make(["workflowId": workflowID, "ownerId": identity.subject, "title": title ?? ""], status: .created)
    }
}
