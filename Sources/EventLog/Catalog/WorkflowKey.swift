/// A workflow as the product knows it: an id in its owner's namespace.
///
/// Workflow ids are the client's own names ("wf-1"), so two users may well pick
/// the same one; keyed by owner too, neither can see, probe or block the other's
/// (Schema/migrations/0014). Every per-workflow rule (one active session,
/// idempotency keys, the latest session) holds per key, not per id.
public struct WorkflowKey: Hashable, Sendable, CustomStringConvertible {
    public var owner: String
    public var id: String

    public init(owner: String, id: String) {
        self.owner = owner
        self.id = id
    }

    public var description: String { "\(owner)/\(id)" }
}
