import OutlineBasics
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import Tracing
import Metrics
import OutlineJSON
import OutlineProjections
import PostgresClient

/// The session API of CONTRACT §4 under `/api/workflows/{workflowId}/outline-generation`:
/// V3 (start, clarifications, stream) and V2 (start-v2, status), with cancel and
/// latest shared. Both versions write the same log; only the mode differs.
struct OutlineGenerationRoutes: Sendable {
    let parts: ServiceParts
    private let polls = Counter(label: "outline_v2_polls_total")

    init(parts: ServiceParts) { self.parts = parts }

    static let basePath = "/api/workflows/:workflowId/outline-generation"

    func register(on group: RouterGroup<OutlineRequestContext>) {
        group.post("start") { request, context in try await start(request, context, mode: .streaming) }
        group.post("start-v2") { request, context in try await start(request, context, mode: .polling) }
        group.post("clarifications") { request, context in try await clarifications(request, context) }
        group.get("status") { request, context in try await status(request, context) }
        group.post("cancel") { request, context in try await cancel(request, context) }
        group.get("latest") { request, context in try await latest(request, context) }
        group.get("stream-token") { request, context in try await streamToken(request, context) }
        SessionStreamRoute(parts: parts).register(on: group)
    }

    // MARK: Start

    struct StartBody: Decodable {
        var prompt: String
        var skipClarification: Bool?
        var idempotencyKey: String?
        var stepId: String?
        var metadata: JSONValue?

        enum CodingKeys: String, CodingKey {
            case prompt, outlinePrompt, outline_prompt, skipClarification, idempotencyKey, stepId, metadata
        }

        /// `prompt`, or the old API's `outlinePrompt` / `outline_prompt`.
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard let prompt = try container.decodeIfPresent(String.self, forKey: .prompt)
                ?? container.decodeIfPresent(String.self, forKey: .outlinePrompt)
                ?? container.decodeIfPresent(String.self, forKey: .outline_prompt) else {
                throw DecodingError.keyNotFound(CodingKeys.prompt, .init(codingPath: [], debugDescription: "prompt is required"))
            }
            self.prompt = prompt
            skipClarification = try container.decodeIfPresent(Bool.self, forKey: .skipClarification)
            idempotencyKey = try container.decodeIfPresent(String.self, forKey: .idempotencyKey)
            stepId = try container.decodeIfPresent(String.self, forKey: .stepId)
            metadata = try container.decodeIfPresent(JSONValue.self, forKey: .metadata)
        }
    }

    struct Started: Encodable {
        var sessionId: String
        var workflowId: String
        var mode: String
        var status: String
        /// True when an earlier request with the same idempotency key made this session.
        var existing: Bool
        var statusUrl: String
        var streamUrl: String?
        var streamToken: String?
        var streamTokenExpiresAt: Date?
    }

    /// The start step: a span of its own under the request's (its trace is the session's first).
    func start(_ request: Request, _ context: OutlineRequestContext, mode: SessionMode) async throws -> Response {
        try await withSpan("session.start", ofKind: .internal) { span in
            span.attributes["outline.mode"] = mode.rawValue
            return try await startUntraced(request, context, mode: mode)
        }
    }

    func startUntraced(_ request: Request, _ context: OutlineRequestContext, mode: SessionMode) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let workflow = try WorkflowScope.of(request, context, identity: identity).key
        let workflowID = workflow.id
        let body = try await RequestInput.json(StartBody.self, from: request, context: context)
        let prompt = try RequestInput.text(body.prompt, field: "prompt", maxLength: 20_000)
        // Both places are checked, though the header wins: what a client sent is valid or refused.
        let bodyKey = try body.idempotencyKey.map { try RequestInput.text($0, field: "idempotencyKey", maxLength: 200) }
        let headerKey = try request.headers[HTTPField.Name("Idempotency-Key")!].map { try RequestInput.text($0, field: "Idempotency-Key", maxLength: 200) }
        let key = headerKey ?? bodyKey
        if let stepId = body.stepId { _ = try RequestInput.text(stepId, field: "stepId", maxLength: 200) }
        let base = "/api/workflows/\(workflowID)/outline-generation"
        if mode == .streaming, case let flags = try await parts.flags.current(), !flags.streams(workflowID: workflowID) {
            let why = flags.streamingSchemaInstalled ? "USE_STREAMING or its rollout" : "its migrations are rolled back"
            throw APIError(.conflict, code: "streaming_disabled",
                           message: "Streaming is turned off for this workflow (\(why)). Start with POST \(base)/start-v2 and poll GET \(base)/status.",
                           fields: ["fallback": "\(base)/start-v2"])
        }
        // A new id is claimed in the caller's namespace: nobody else's ids are
        // visible or in the way, so this answers alike for every id.
        try await parts.directory.claim(workflow)
        // A repeated request and a start beside a running session answer as they
        // always do (200 with the same session, 409 with the active one), before
        // any usage limit: they start nothing. The indexes still decide races.
        if let key, let existing = try await parts.sessions.session(in: workflow, idempotencyKey: key) {
            return try JSONResponse.make(await startedBody(existing.id, workflowID: workflowID, mode: existing.mode, status: existing.status.rawValue, existing: true, identity: identity),
                                         status: .ok)
        }
        if let active = try await parts.sessions.activeSession(in: workflow) {
            throw Self.sessionActive(workflowID, active: active.id)
        }
        let sessionID = UUID()
        let started = SessionStarted(workflowId: workflowID, prompt: prompt, mode: mode, requestedBy: identity.subject,
                                     idempotencyKey: key, skipClarification: body.skipClarification ?? false, stepId: body.stepId, metadata: body.metadata,
                                     workflowOwner: workflow.owner)
        do {
            try await startOnce(sessionID: sessionID, started)
        } catch OutlineSessionStartError.activeSessionExists(_, let active) {
            throw Self.sessionActive(workflowID, active: active)
        } catch let exceeded as UsageLimitExceeded {
            throw exceeded.apiError
        } catch let exceeded as BudgetExceeded {
            throw exceeded.apiError
        } catch OutlineSessionStartError.idempotencyKeyUsed(_, let existing) {
            guard let row = try await parts.sessions.row(existing) else { throw ServiceParts.sessionNotFound(existing) }
            return try JSONResponse.make(await startedBody(row.id, workflowID: workflowID, mode: row.mode, status: row.status.rawValue, existing: true, identity: identity), status: .ok)
        }
        parts.launcher.submit(.prepare(session: sessionID, prompt: prompt, skipClarification: started.skipClarification, mode: mode))
        return try JSONResponse.make(await startedBody(sessionID, workflowID: workflowID, mode: mode, status: OutlineSessionRow.Status.pending.rawValue, existing: false, identity: identity),
                                     status: .created, headers: [.location: "\(base)/status?sessionId=\(sessionID.uuidString.lowercased())"])
    }

    static func sessionActive(_ workflowID: String, active: UUID) -> APIError {
        LiveSignals.shared.count(.activeSessionRefusals)
        return APIError(.conflict, code: "session_active",
                 message: "Workflow \(workflowID) already has an active session; follow it or cancel it before starting another.",
                 fields: ["activeSessionId": active.uuidString.lowercased()])
    }

    /// The read model's unique indexes decide; a violation whose winner already
    /// ended meanwhile is simply retried.
    private func startOnce(sessionID: UUID, _ started: SessionStarted) async throws {
        for attempt in 1...3 {
            do {
                let limits = parts.limits, spending = parts.spending, user = started.requestedBy, workflow = started.workflow
                try await parts.sessions.start(sessionID: sessionID, started) { connection in
                    try limits.checkStart(user: user, workflow: workflow, on: connection)
                    try spending.checkStart(user: user, workflow: workflow, on: connection)
                }
                return
            } catch let error as OutlineSessionStartError {
                throw error
            } catch let error as PostgresError where error.isUniqueViolation && attempt < 3 {
                LiveSignals.shared.count(.constraintErrors)
                continue
            }
        }
    }

    private func startedBody(_ session: UUID, workflowID: String, mode: SessionMode, status: String, existing: Bool, identity: AccessToken) async throws -> Started {
        let id = session.uuidString.lowercased()
        let base = "/api/workflows/\(workflowID)/outline-generation"
        var body = Started(sessionId: id, workflowId: workflowID, mode: mode.rawValue, status: status, existing: existing, statusUrl: "\(base)/status?sessionId=\(id)")
        if mode == .streaming {
            let (token, expiresAt) = try await parts.streamToken(for: session, identity: identity)
            body.streamUrl = "\(base)/stream?sessionId=\(id)&token=\(token)"
            body.streamToken = token
            body.streamTokenExpiresAt = expiresAt
        }
        return body
    }

    // MARK: Clarifications

    struct ClarificationBody: Decodable {
        var sessionId: String
        var answers: [String]
    }

    func clarifications(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let workflow = try WorkflowScope.of(request, context, identity: identity)
        let body = try await RequestInput.json(ClarificationBody.self, from: request, context: context)
        let session = try RequestInput.uuid(body.sessionId, field: "sessionId")
        let row = try await parts.reachableSession(session, workflow: workflow, identity: identity)
        guard row.status == .awaitingClarification, let questions = row.clarificationQuestions else {
            throw APIError(.conflict, code: "not_awaiting_clarification",
                           message: "Session \(body.sessionId) is not waiting for answers (it is \(row.status.rawValue)).", fields: ["status": row.status.rawValue])
        }
        guard body.answers.count == questions.count else {
            throw APIError.invalid("answers", "Send one answer per question: \(questions.count) expected, \(body.answers.count) given.", code: "invalid_field")
        }
        for (index, answer) in body.answers.enumerated() where answer.unicodeScalars.count > 5_000 {
            throw APIError.invalid("answers[\(index)]", "An answer is at most 5000 characters.", code: "invalid_field")
        }
        do {
            try await parts.store.append(StreamAppend(sessionID: session, expectedSequence: row.lastEventSequence, events: [
                NewEvent(.clarificationAnswered(ClarificationAnswered(answers: body.answers))),
            ]))
        } catch EventLogError.sequenceConflict {
            throw APIError(.conflict, code: "not_awaiting_clarification", message: "The session moved on while the answers were sent; reload it.")
        }
        parts.launcher.submit(.answered(session: session, prompt: row.outlinePrompt, questions: questions, answers: body.answers, mode: row.mode))
        return try JSONResponse.make(["sessionId": session.uuidString.lowercased(), "status": OutlineSessionRow.Status.clarified.rawValue], status: .accepted)
    }

    // MARK: Status, cancel, latest

    func status(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let workflow = try WorkflowScope.of(request, context, identity: identity)
        let session = try RequestInput.sessionIDQuery(request)
        polls.increment()
        return try JSONResponse.row(try await parts.reachableSession(session, workflow: workflow, identity: identity))
    }

    struct CancelBody: Decodable {
        var sessionId: String?
        var reason: String?
    }

    func cancel(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let workflow = try WorkflowScope.of(request, context, identity: identity)
        let body = try await RequestInput.optionalJSON(CancelBody.self, from: request, context: context) ?? CancelBody()
        if let reason = body.reason { _ = try RequestInput.text(reason, field: "reason", maxLength: 1000) }
        let row: OutlineSessionRow
        if let given = body.sessionId ?? request.uri.queryParameters.get("sessionId").map({ String($0) }) {
            row = try await parts.reachableSession(try RequestInput.uuid(given, field: "sessionId"), workflow: workflow, identity: identity)
        } else {
            try await parts.directory.requireExisting(workflow.key)
            guard let active = try await parts.sessions.activeSession(in: workflow.key) else {
                throw APIError(.notFound, code: "no_active_session", message: "Workflow \(workflow.key.id) has no active session to cancel.")
            }
            row = active
        }
        guard !row.status.isTerminal else {
            throw APIError(.conflict, code: "session_ended", message: "Session \(row.id.uuidString.lowercased()) already ended (\(row.status.rawValue)).",
                           fields: ["status": row.status.rawValue])
        }
        try await parts.launcher.runner.cancel(session: row.id, by: identity.subject, reason: body.reason)
        return try JSONResponse.row(try await parts.sessions.row(row.id) ?? row)
    }

    /// A fresh stream token for a session the caller may read (a reloaded page,
    /// or one whose token expired during a long run).
    func streamToken(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let workflow = try WorkflowScope.of(request, context, identity: identity)
        let workflowID = workflow.key.id
        let session = try RequestInput.sessionIDQuery(request)
        let row = try await parts.reachableSession(session, workflow: workflow, identity: identity)
        let (token, expiresAt) = try await parts.streamToken(for: row.id, identity: identity)
        let id = row.id.uuidString.lowercased()
        struct Body: Encodable { var sessionId: String, streamToken: String, streamTokenExpiresAt: Date, streamUrl: String }
        return try JSONResponse.make(Body(sessionId: id, streamToken: token, streamTokenExpiresAt: expiresAt,
                                          streamUrl: "/api/workflows/\(workflowID)/outline-generation/stream?sessionId=\(id)&token=\(token)"))
    }

    func latest(_ request: Request, _ context: OutlineRequestContext) async throws -> Response {
        let identity = try context.requireAPIIdentity()
        let workflow = try WorkflowScope.of(request, context, identity: identity).key
        try await parts.directory.requireExisting(workflow)
        guard let row = try await parts.sessions.latest(in: workflow) else {
            throw APIError(.notFound, code: "no_session", message: "Workflow \(workflow.id) has no session yet.")
        }
        return try JSONResponse.row(row)
    }
}
