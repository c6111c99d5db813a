import EventLog
import Hummingbird
import OutlineAuth
import OutlineProjections

/// The workflow a request names: the path's id in the caller's own namespace.
/// An admin may name another user's namespace with `?owner=`; a user who names
/// anyone but themselves is refused the same way whatever the id, so the answer
/// tells nothing about which ids exist.
struct WorkflowScope: Sendable {
    var key: WorkflowKey
    /// An admin who named no owner reaches a session of this id in any namespace
    /// (admins reach every session); everyone else only sessions in `key`.
    var anyOwner: Bool

    static func of(_ request: Request, _ context: OutlineRequestContext, identity: AccessToken) throws -> WorkflowScope {
        let id = try RequestInput.workflowID(context)
        let named = try request.uri.queryParameters.get("owner").map { try RequestInput.text(String($0), field: "owner", maxLength: 200) }
        if let named, named != identity.subject, identity.role != .admin {
            throw APIError(.forbidden, code: "owner_not_allowed",
                           message: "Only an admin names another user's workflows; leave owner out to use your own.", fields: ["field": "owner"])
        }
        return WorkflowScope(key: WorkflowKey(owner: named ?? identity.subject, id: id), anyOwner: identity.role == .admin && named == nil)
    }

    /// Whether a session belongs to this workflow.
    func contains(_ access: SessionAccess) -> Bool {
        access.workflowId == key.id && (anyOwner || access.workflowOwner == key.owner)
    }
}
