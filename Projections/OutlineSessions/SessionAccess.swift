import EventLog
import Foundation

/// The few columns that decide whether and how a request may read a session
/// (its workflow, status and head), without the texts: a stream or replay
/// request on a session with a megabyte of outline must not make the server
/// assemble that megabyte just to check access. Read from the rows table alone.
public struct SessionAccess: Sendable, Equatable {
    public var workflow: WorkflowKey { WorkflowKey(owner: workflowOwner, id: workflowId) }

    public var id: UUID
    public var workflowId: String
    public var workflowOwner: String
    public var status: OutlineSessionRow.Status
    public var lastEventSequence: Int32
}
