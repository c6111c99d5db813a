import OutlineJSON

/// The token counts of a response's `usage` object, typed:
/// `{"input_tokens", "input_tokens_details": {"cached_tokens"}, "output_tokens",
/// "output_tokens_details": {"reasoning_tokens"}, "total_tokens"}`.
///
/// Read tolerantly from the raw JSON the response keeps: a missing field is 0,
/// and every count is clamped to 0...10¹² (a provider, or something posing as one,
/// cannot make the pricing arithmetic overflow or go negative).
public struct ResponseUsage: Sendable, Equatable {
    public var inputTokens: Int64
    public var cachedInputTokens: Int64
    public var outputTokens: Int64
    public var reasoningTokens: Int64

    public init(inputTokens: Int64, cachedInputTokens: Int64 = 0, outputTokens: Int64, reasoningTokens: Int64 = 0) {
        self.inputTokens = inputTokens
        self.cachedInputTokens = min(cachedInputTokens, inputTokens)
        self.outputTokens = outputTokens
        self.reasoningTokens = min(reasoningTokens, outputTokens)
    }

    /// Nil when `usage` is absent, null or not an object.
    public init?(_ usage: JSONValue?) {
        guard case .object(let fields) = usage else { return nil }
        func count(_ value: JSONValue?) -> Int64 {
            guard case .number(let number) = value, number.isFinite else { return 0 }
            return Int64(min(max(number, 0), 1e12))
        }
        func detail(_ key: String, _ field: String) -> Int64 {
            guard case .object(let details) = fields[key] else { return 0 }
            return count(details[field])
        }
        self.init(inputTokens: count(fields["input_tokens"]), cachedInputTokens: detail("input_tokens_details", "cached_tokens"),
                  outputTokens: count(fields["output_tokens"]), reasoningTokens: detail("output_tokens_details", "reasoning_tokens"))
    }
}

extension ResponseObject {
    /// The typed usage, when the response reports one.
    public var tokenUsage: ResponseUsage? { ResponseUsage(usage) }

    /// The web searches the response ran (each is billed per call).
    public var webSearchCalls: Int { output.count { $0.type == "web_search_call" } }
}
