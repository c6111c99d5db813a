import EventLog
import Foundation
import OutlineJSON

/// One row of the `outline_sessions` read model: what the V2 API, `/latest` and
/// the SSE snapshot show of a session.
///
/// Its `Codable` form is the row as PostgreSQL's `to_jsonb` writes it (column
/// names, timestamps to the microsecond), which is how rows are read and written.
public struct OutlineSessionRow: Codable, Sendable, Equatable {
    public var id: UUID
    public var workflowId: String
    /// The old table's row-format version; rows written by this projection are 1.
    public var version: Int32
    public var stepId: String?
    public var status: Status
    public var outlinePrompt: String
    public var clarificationQuestions: [String]?
    public var clarificationAnswers: [String]?
    /// Provider-side state the old table kept here: the provider's last status.
    public var agentState: JSONValue?
    public var researchInstructions: String?
    public var finalOutline: String?
    public var citations: [Citation]?
    public var sessionMetadata: JSONValue?
    public var backgroundResponseId: String?
    public var pollingAttempts: Int32
    public var lastPolledAt: Date?
    public var isActive: Bool
    public var errorMessage: String?
    public var startedAt: Date
    public var completedAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var mode: SessionMode
    public var requestedBy: String
    public var idempotencyKey: String?
    public var lastEventSequence: Int32
    public var lastProviderSequence: Int32?
    public var outputText: String
    public var reasoningSummary: String
    public var progressPhase: Phase
    public var webSearchesDone: Int32
    public var webSearchQueries: [String]
    public var elapsedMs: Int64
    public var lastEventAt: Date
    /// Whose namespace `workflowId` is in (`WorkflowKey`).
    public var workflowOwner: String
    /// What the session cost so far, in micro-dollars (USD × 10⁶): the sum of
    /// the priced provider calls its events record. What budgets add up.
    public var costMicrodollars: Int64 = 0
    /// The tokens, searches and models behind `costMicrodollars`; nil until a
    /// priced call is recorded.
    public var cost: SessionCostTotals? = nil

    /// The old table's status values, plus `pending` for a session that has only started.
    public enum Status: String, Codable, Sendable {
        case pending
        case awaitingClarification = "awaiting_clarification"
        case clarified
        case researching
        case completed
        case failed
        case cancelled

        public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }
    }

    /// What the page shows the writer: where the session is now.
    public enum Phase: String, Codable, Sendable {
        case starting
        case clarifying
        case preparing
        case researching
        case writing
        case done
        case failed
        case cancelled
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case workflowId = "workflow_id"
        case version
        case stepId = "step_id"
        case status
        case outlinePrompt = "outline_prompt"
        case clarificationQuestions = "clarification_questions"
        case clarificationAnswers = "clarification_answers"
        case agentState = "agent_state"
        case researchInstructions = "research_instructions"
        case finalOutline = "final_outline"
        case citations
        case sessionMetadata = "session_metadata"
        case backgroundResponseId = "background_response_id"
        case pollingAttempts = "polling_attempts"
        case lastPolledAt = "last_polled_at"
        case isActive = "is_active"
        case errorMessage = "error_message"
        case startedAt = "started_at"
        case completedAt = "completed_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case mode
        case requestedBy = "requested_by"
        case idempotencyKey = "idempotency_key"
        case lastEventSequence = "last_event_sequence"
        case lastProviderSequence = "last_provider_sequence"
        case outputText = "output_text"
        case reasoningSummary = "reasoning_summary"
        case progressPhase = "progress_phase"
        case webSearchesDone = "web_searches_done"
        case webSearchQueries = "web_search_queries"
        case elapsedMs = "elapsed_ms"
        case lastEventAt = "last_event_at"
        case workflowOwner = "workflow_owner"
        case costMicrodollars = "cost_microdollars"
        case cost
    }

    /// The row with both texts empty: its other columns, cheap to copy and compare.
    var withoutTexts: OutlineSessionRow {
        var row = self
        row.outputText = ""
        row.reasoningSummary = ""
        return row
    }

    /// The table's column names, in the order the projection writes them.
    public static var columnNames: [String] { CodingKeys.allCases.map(\.rawValue) }

    public static func jsonEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(TimestampText.format(date))
        }
        return encoder
    }

    static func jsonDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = TimestampText.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a timestamp: \(text)")
            }
            return date
        }
        return decoder
    }
}
