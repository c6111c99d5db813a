import EventLog
import Foundation
import OutlineJSON
import OutlineProjections

/// A session as every API body shows it (`status`, `latest`, `cancel`, the SSE
/// `snapshot` event): camelCase like the rest of the API and the OpenAPI
/// document's `OutlineSession`. The read-model row keeps its SQL column names
/// in SQL; this type is the stable contract, so a column added to the table
/// reaches clients only when it is added here (and to the OpenAPI document).
struct SessionView: Encodable, Sendable {
    var id: String
    var workflowId: String
    var workflowOwner: String
    var version: Int32
    var stepId: String?
    var status: String
    var mode: String
    var outlinePrompt: String
    var clarificationQuestions: [String]?
    var clarificationAnswers: [String]?
    /// The provider's last status, as the old table kept it (`{"providerStatus": …}`).
    var agentState: JSONValue?
    var researchInstructions: String?
    var finalOutline: String?
    var citations: [Citation]?
    /// What the caller sent as `metadata` when it started the session: its own keys, untouched.
    var sessionMetadata: JSONValue?
    var backgroundResponseId: String?
    var pollingAttempts: Int32
    var lastPolledAt: String?
    var isActive: Bool
    var errorMessage: String?
    var startedAt: String
    var completedAt: String?
    var createdAt: String
    var updatedAt: String
    var requestedBy: String
    var idempotencyKey: String?
    var lastEventSequence: Int32
    var lastProviderSequence: Int32?
    var lastEventAt: String
    var outputText: String
    var reasoningSummary: String
    var progressPhase: String
    var webSearchesDone: Int32
    var webSearchQueries: [String]
    var elapsedMs: Int64
    var costMicrodollars: Int64
    var cost: SessionCostTotals?

    init(_ row: OutlineSessionRow) {
        id = row.id.uuidString.lowercased()
        workflowId = row.workflowId
        workflowOwner = row.workflowOwner
        version = row.version
        stepId = row.stepId
        status = row.status.rawValue
        mode = row.mode.rawValue
        outlinePrompt = row.outlinePrompt
        clarificationQuestions = row.clarificationQuestions
        clarificationAnswers = row.clarificationAnswers
        agentState = row.agentState.map(Self.camelCased)
        researchInstructions = row.researchInstructions
        finalOutline = row.finalOutline
        citations = row.citations
        sessionMetadata = row.sessionMetadata
        backgroundResponseId = row.backgroundResponseId
        pollingAttempts = row.pollingAttempts
        lastPolledAt = row.lastPolledAt.map(TimestampText.format)
        isActive = row.isActive
        errorMessage = row.errorMessage
        startedAt = TimestampText.format(row.startedAt)
        completedAt = row.completedAt.map(TimestampText.format)
        createdAt = TimestampText.format(row.createdAt)
        updatedAt = TimestampText.format(row.updatedAt)
        requestedBy = row.requestedBy
        idempotencyKey = row.idempotencyKey
        lastEventSequence = row.lastEventSequence
        lastProviderSequence = row.lastProviderSequence
        lastEventAt = TimestampText.format(row.lastEventAt)
        outputText = row.outputText
        reasoningSummary = row.reasoningSummary
        progressPhase = row.progressPhase.rawValue
        webSearchesDone = row.webSearchesDone
        webSearchQueries = row.webSearchQueries
        elapsedMs = row.elapsedMs
        costMicrodollars = row.costMicrodollars
        cost = row.cost
    }

    /// Every field, nulls included (a client tells "no answer yet" from "unknown field").
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        func put<T: Encodable>(_ value: T?, _ key: String) throws {
            if let value { try container.encode(value, forKey: Key(key)) } else { try container.encodeNil(forKey: Key(key)) }
        }
        try put(id, "id"); try put(workflowId, "workflowId"); try put(workflowOwner, "workflowOwner"); try put(version, "version")
        try put(stepId, "stepId"); try put(status, "status"); try put(mode, "mode"); try put(outlinePrompt, "outlinePrompt")
        try put(clarificationQuestions, "clarificationQuestions"); try put(clarificationAnswers, "clarificationAnswers")
        try put(agentState, "agentState"); try put(researchInstructions, "researchInstructions"); try put(finalOutline, "finalOutline")
        try put(citations, "citations"); try put(sessionMetadata, "sessionMetadata"); try put(backgroundResponseId, "backgroundResponseId")
        try put(pollingAttempts, "pollingAttempts"); try put(lastPolledAt, "lastPolledAt"); try put(isActive, "isActive")
        try put(errorMessage, "errorMessage"); try put(startedAt, "startedAt"); try put(completedAt, "completedAt")
        try put(createdAt, "createdAt"); try put(updatedAt, "updatedAt"); try put(requestedBy, "requestedBy")
        try put(idempotencyKey, "idempotencyKey"); try put(lastEventSequence, "lastEventSequence")
        try put(lastProviderSequence, "lastProviderSequence"); try put(lastEventAt, "lastEventAt"); try put(outputText, "outputText")
        try put(reasoningSummary, "reasoningSummary"); try put(progressPhase, "progressPhase"); try put(webSearchesDone, "webSearchesDone")
        try put(webSearchQueries, "webSearchQueries"); try put(elapsedMs, "elapsedMs"); try put(costMicrodollars, "costMicrodollars")
        try put(cost, "cost")
    }

    /// The body: sorted keys, unescaped slashes, as every JSON response.
    func json() throws -> [UInt8] {
        Array(try JSONResponse.encoder().encode(self))
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The keys this service wrote into `agent_state` (`provider_status`), in the API's style.
    static func camelCased(_ value: JSONValue) -> JSONValue {
        guard case .object(let fields) = value else { return value }
        return .object(Dictionary(fields.map { (camelCase($0.key), $0.value) }, uniquingKeysWith: { first, _ in first }))
    }

    static func camelCase(_ name: String) -> String {
        let parts = name.split(separator: "_", omittingEmptySubsequences: true)
        guard let first = parts.first else { return name }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}
