import OutlineJSON

/// A Responses API response object (`GET /v1/responses/{id}`, and the
/// `response` of lifecycle stream events), with the fields OutlineStream uses.
/// Unknown fields are ignored, so new provider fields never break decoding.
public struct ResponseObject: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case queued
        case inProgress = "in_progress"
        case completed
        case failed
        case incomplete
        case cancelled
        /// A status this client does not know yet.
        case other

        public init(from decoder: any Decoder) throws {
            self = Status(rawValue: try decoder.singleValueContainer().decode(String.self)) ?? .other
        }

        /// True once the response can no longer change.
        public var isTerminal: Bool { self == .completed || self == .failed || self == .incomplete || self == .cancelled }
    }

    public struct ResponseError: Codable, Sendable, Equatable {
        public var code: String?
        public var message: String
    }

    public struct IncompleteDetails: Codable, Sendable, Equatable {
        public var reason: String?
    }

    public var id: String
    public var status: Status
    public var model: String?
    public var background: Bool?
    public var error: ResponseError?
    public var incompleteDetails: IncompleteDetails?
    public var output: [OutputItem]
    public var usage: JSONValue?
    /// Unix seconds; what the SDKs require of every response (absent: nil).
    public var createdAt: Int64?
    public var parallelToolCalls: Bool?
    /// `"auto"`, `"none"`, `"required"` or an object naming a tool.
    public var toolChoice: JSONValue?
    public var tools: [JSONValue]?

    enum CodingKeys: String, CodingKey {
        case id, status, model, background, error, output, usage, tools
        case incompleteDetails = "incomplete_details"
        case createdAt = "created_at"
        case parallelToolCalls = "parallel_tool_calls"
        case toolChoice = "tool_choice"
    }

    public init(id: String, status: Status, model: String? = nil, background: Bool? = nil, error: ResponseError? = nil,
                incompleteDetails: IncompleteDetails? = nil, output: [OutputItem] = [], usage: JSONValue? = nil) {
        self.id = id
        self.status = status
        self.model = model
        self.background = background
        self.error = error
        self.incompleteDetails = incompleteDetails
        self.output = output
        self.usage = usage
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        status = try container.decode(Status.self, forKey: .status)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        background = try container.decodeIfPresent(Bool.self, forKey: .background)
        error = try container.decodeIfPresent(ResponseError.self, forKey: .error)
        incompleteDetails = try container.decodeIfPresent(IncompleteDetails.self, forKey: .incompleteDetails)
        output = try container.decodeIfPresent([OutputItem].self, forKey: .output) ?? []
        usage = try container.decodeIfPresent(JSONValue.self, forKey: .usage)
        // Tolerant: a provider that sends them oddly still has its response read.
        createdAt = (try? container.decodeIfPresent(Double.self, forKey: .createdAt)).flatMap { $0.flatMap { $0.isFinite && abs($0) < 1e15 ? Int64($0) : nil } }
        parallelToolCalls = try? container.decodeIfPresent(Bool.self, forKey: .parallelToolCalls)
        toolChoice = try? container.decodeIfPresent(JSONValue.self, forKey: .toolChoice)
        tools = try? container.decodeIfPresent([JSONValue].self, forKey: .tools)
    }

    /// The text of every `output_text` part of every message, in order: the outline.
    public var outputText: String {
        output.filter { $0.type == "message" }.flatMap { $0.content ?? [] }.filter { $0.type == "output_text" }.compactMap(\.text).joined()
    }

    /// Every `url_citation` of the output text, with indices shifted to count from
    /// the start of `outputText` when the output has several text parts.
    public var citations: [URLCitation] {
        var result: [URLCitation] = []
        var offset = 0
        for part in output.filter({ $0.type == "message" }).flatMap({ $0.content ?? [] }) where part.type == "output_text" {
            for annotation in part.annotations ?? [] {
                guard var citation = annotation.urlCitation else { continue }
                citation.startIndex += offset
                citation.endIndex += offset
                result.append(citation)
            }
            offset += part.text?.unicodeScalars.count ?? 0
        }
        return result
    }
}

/// An item of a response's output: a message, a reasoning step, a web search call...
public struct OutputItem: Codable, Sendable, Equatable {
    public var id: String?
    public var type: String
    public var status: String?
    /// For `web_search_call`: what it did (`search` with a query, `open_page`, `find`...).
    public var action: WebSearchAction?
    /// For `message`: its content parts.
    public var content: [ContentPart]?
    /// For `reasoning`: its summary parts.
    public var summary: [SummaryPart]?

    public struct WebSearchAction: Codable, Sendable, Equatable {
        public var type: String
        public var query: String?
        public var url: String?
    }

    public struct SummaryPart: Codable, Sendable, Equatable {
        public var type: String
        public var text: String?
    }

    public init(id: String?, type: String, status: String? = nil, action: WebSearchAction? = nil, content: [ContentPart]? = nil, summary: [SummaryPart]? = nil) {
        self.id = id
        self.type = type
        self.status = status
        self.action = action
        self.content = content
        self.summary = summary
    }
}

/// A part of a message: `output_text` with its annotations, or a refusal.
public struct ContentPart: Codable, Sendable, Equatable {
    public var type: String
    public var text: String?
    public var annotations: [Annotation]?

    public init(type: String, text: String?, annotations: [Annotation]?) {
        self.type = type
        self.text = text
        self.annotations = annotations
    }
}

/// An annotation of output text; `url_citation` is the one that carries a source.
public struct Annotation: Codable, Sendable, Equatable {
    public var type: String
    public var url: String?
    public var title: String?
    public var startIndex: Int?
    public var endIndex: Int?

    enum CodingKeys: String, CodingKey {
        case type, url, title
        case startIndex = "start_index"
        case endIndex = "end_index"
    }

    public init(type: String, url: String?, title: String?, startIndex: Int?, endIndex: Int?) {
        self.type = type
        self.url = url
        self.title = title
        self.startIndex = startIndex
        self.endIndex = endIndex
    }

    public var urlCitation: URLCitation? {
        guard type == "url_citation", let url, let startIndex, let endIndex else { return nil }
        return URLCitation(url: url, title: title, startIndex: startIndex, endIndex: endIndex)
    }
}

/// A cited source. Indices count Unicode scalars (code points) of the output
/// text, as the provider counts them: slice with `unicodeScalars`, not `Character`s.
public struct URLCitation: Sendable, Equatable, Hashable {
    public var url: String
    public var title: String?
    public var startIndex: Int
    public var endIndex: Int

    public init(url: String, title: String?, startIndex: Int, endIndex: Int) {
        self.url = url
        self.title = title
        self.startIndex = startIndex
        self.endIndex = endIndex
    }

    /// The cited span of `text`, or nil when the indices fall outside it.
    public func citedText(in text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        guard startIndex >= 0, startIndex <= endIndex, endIndex <= scalars.count else { return nil }
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars[startIndex..<endIndex])
        return String(result)
    }
}
