import OutlineJSON

/// The body of `POST /v1/responses`, with what OutlineStream sends.
public struct CreateResponseRequest: Encodable, Sendable, Equatable {
    public struct Tool: Encodable, Sendable, Equatable {
        public var type: String
        public init(type: String) { self.type = type }
        /// The deep research models need a data source; web search is ours.
        public static let webSearch = Tool(type: "web_search_preview")
    }

    public struct Reasoning: Encodable, Sendable, Equatable {
        public var summary: String?
        public init(summary: String?) { self.summary = summary }
    }

    public var model: String
    public var input: String
    public var instructions: String?
    /// Run detached from this connection (deep research takes many minutes).
    public var background: Bool
    public var stream: Bool
    public var tools: [Tool]?
    public var reasoning: Reasoning?
    public var metadata: [String: String]?
    public var maxToolCalls: Int?

    enum CodingKeys: String, CodingKey {
        case model, input, instructions, background, stream, tools, reasoning, metadata
        case maxToolCalls = "max_tool_calls"
    }

    public init(model: String, input: String, instructions: String? = nil, background: Bool, stream: Bool, tools: [Tool]? = nil,
                reasoning: Reasoning? = nil, metadata: [String: String]? = nil, maxToolCalls: Int? = nil) {
        self.model = model
        self.input = input
        self.instructions = instructions
        self.background = background
        self.stream = stream
        self.tools = tools
        self.reasoning = reasoning
        self.metadata = metadata
        self.maxToolCalls = maxToolCalls
    }

    /// A deep-research request: background mode, web search, reasoning summaries.
    public static func deepResearch(model: String = "o3-deep-research", instructions: String, stream: Bool, sessionID: String) -> CreateResponseRequest {
        CreateResponseRequest(model: model, input: instructions, background: true, stream: stream, tools: [.webSearch],
                              reasoning: Reasoning(summary: "auto"), metadata: ["outline_session": sessionID])
    }
}
