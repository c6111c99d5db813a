import OutlineJSON
/// How a session gets its progress to the browser.
public enum SessionMode: String, Codable, Sendable {
    /// V3: the provider streams, the browser listens on SSE.
    case streaming
    /// V2: the provider runs in background mode and is polled.
    case polling
}

/// A user asked for an outline. The first event of every session.
public struct SessionStarted: OutlineEventPayload {
    public static let eventType = "session.started"
    public static let schemaVersion: Int16 = 1

    public var workflowId: String
    /// Whose namespace the workflow id is in: the requester's own, unless an
    /// admin started it in another user's. Absent in events written before
    /// workflow namespaces, which meant the requester (`workflow`).
    public var workflowOwner: String?
    public var prompt: String
    public var mode: SessionMode
    public var requestedBy: String
    public var idempotencyKey: String?
    public var skipClarification: Bool
    public var stepId: String?
    public var metadata: JSONValue?

    public init(workflowId: String, prompt: String, mode: SessionMode, requestedBy: String,
                idempotencyKey: String? = nil, skipClarification: Bool = false, stepId: String? = nil, metadata: JSONValue? = nil,
                workflowOwner: String? = nil) {
        self.workflowId = workflowId
        self.workflowOwner = workflowOwner
        self.prompt = prompt
        self.mode = mode
        self.requestedBy = requestedBy
        self.idempotencyKey = idempotencyKey
        self.skipClarification = skipClarification
        self.stepId = stepId
        self.metadata = metadata
    }

    /// The workflow this session belongs to.
    public var workflow: WorkflowKey { WorkflowKey(owner: workflowOwner ?? requestedBy, id: workflowId) }
}

/// A fast model wrote questions the user should answer before research starts.
public struct ClarificationRequested: OutlineEventPayload {
    public static let eventType = "clarification.requested"
    public static let schemaVersion: Int16 = 1
    public var questions: [String]
    /// The fast model's call that wrote them.
    public var cost: ProviderCost?
    public init(questions: [String], cost: ProviderCost? = nil) {
        self.questions = questions
        self.cost = cost
    }
}

/// The user answered the clarification questions (in the same order).
public struct ClarificationAnswered: OutlineEventPayload {
    public static let eventType = "clarification.answered"
    public static let schemaVersion: Int16 = 1
    public var answers: [String]
    public init(answers: [String]) { self.answers = answers }
}

/// Prompt and answers were rewritten into the instructions the research model gets.
public struct ResearchInstructionsWritten: OutlineEventPayload {
    public static let eventType = "research.instructions_written"
    public static let schemaVersion: Int16 = 1
    public var instructions: String
    /// The fast model's call that wrote them.
    public var cost: ProviderCost?
    public init(instructions: String, cost: ProviderCost? = nil) {
        self.instructions = instructions
        self.cost = cost
    }
}

/// The session finished with an outline. Terminal.
public struct SessionCompleted: OutlineEventPayload {
    public static let eventType = "session.completed"
    public static let schemaVersion: Int16 = 1
    public var finalOutline: String
    public var citations: [Citation]
    /// The provider's usage object, as it reported it.
    public var usage: JSONValue?
    /// The research run's usage, priced.
    public var cost: ProviderCost?
    public init(finalOutline: String, citations: [Citation], usage: JSONValue? = nil, cost: ProviderCost? = nil) {
        self.finalOutline = finalOutline
        self.citations = citations
        self.usage = usage
        self.cost = cost
    }
}

/// The session failed. Terminal.
public struct SessionFailed: OutlineEventPayload {
    public static let eventType = "session.failed"
    public static let schemaVersion: Int16 = 1
    public var code: String
    public var message: String
    public var retryable: Bool
    /// True when no provider response of this session can still be running (and
    /// billing): none was created, it ended, or it was cancelled upstream. False
    /// when that is unknown (a create whose answer was lost). Nil in events
    /// recorded before this field existed.
    public var providerSettled: Bool?
    /// What the run had used when it failed (reported by the provider, or estimated).
    public var cost: ProviderCost?
    public init(code: String, message: String, retryable: Bool, providerSettled: Bool? = nil, cost: ProviderCost? = nil) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.providerSettled = providerSettled
        self.cost = cost
    }
}

/// Someone cancelled the session (the provider call is cancelled too). Terminal.
public struct SessionCancelled: OutlineEventPayload {
    public static let eventType = "session.cancelled"
    public static let schemaVersion: Int16 = 1
    public var cancelledBy: String
    public var reason: String?
    /// What the run had used when it was cancelled (estimated from the log).
    public var cost: ProviderCost?
    public init(cancelledBy: String, reason: String? = nil, cost: ProviderCost? = nil) {
        self.cancelledBy = cancelledBy
        self.reason = reason
        self.cost = cost
    }
}

/// A runner picked the session up again after a crash or a dropped stream.
public struct SessionResumed: OutlineEventPayload {
    public static let eventType = "session.resumed"
    public static let schemaVersion: Int16 = 1
    /// The last provider sequence number already in the log; the stream resumes after it.
    public var fromProviderSequence: Int32?
    public var reason: String
    public var runner: String?
    public init(fromProviderSequence: Int32?, reason: String, runner: String? = nil) {
        self.fromProviderSequence = fromProviderSequence
        self.reason = reason
        self.runner = runner
    }
}

/// The provider said by webhook that the response ended (`response.completed`,
/// `.failed`, `.cancelled`, `.incomplete`): the runner fetches it now instead of
/// polling. `webhookId` is the delivery's id, processed once however often it arrives.
public struct ProviderWebhookReceived: OutlineEventPayload {
    public static let eventType = "provider.webhook_received"
    public static let schemaVersion: Int16 = 1
    public var webhookId: String
    public var webhookType: String
    public init(webhookId: String, webhookType: String) {
        self.webhookId = webhookId
        self.webhookType = webhookType
    }
}

/// A V2 poll of the provider's background response.
public struct SessionPolled: OutlineEventPayload {
    public static let eventType = "session.polled"
    public static let schemaVersion: Int16 = 1
    public var attempt: Int32
    public var providerStatus: String
    public init(attempt: Int32, providerStatus: String) {
        self.attempt = attempt
        self.providerStatus = providerStatus
    }
}
