/// What one provider call (or a whole research run) used and cost, as the log
/// keeps it on the event that ends the call: the terminal event of the research,
/// and the clarification and instruction events for the fast model's calls.
///
/// The price is applied when the event is written, with the price table then in
/// force (named by its date), and stored: a later change of prices does not
/// rewrite history, and a rebuild of the read model from the log gives the same
/// figures. Money is kept in whole micro-dollars (USD × 10⁶) so sums are exact.
public struct ProviderCost: Codable, Sendable, Equatable {
    public var model: String
    public var inputTokens: Int64
    /// Input tokens the provider served from its prompt cache (billed lower; part of `inputTokens`).
    public var cachedInputTokens: Int64
    /// Output tokens, reasoning included (as the provider bills them).
    public var outputTokens: Int64
    /// Reasoning tokens (part of `outputTokens`).
    public var reasoningTokens: Int64
    public var webSearchCalls: Int32
    public var microdollars: Int64
    /// The price table's date (`PriceTable.date`) the figure was priced with.
    public var pricedWith: String
    /// True when the provider reported no usage (a cancelled or cut-off run, or a
    /// hard cap reached mid-run) and the tokens are estimated from what the log shows.
    public var estimated: Bool

    public init(model: String, inputTokens: Int64, cachedInputTokens: Int64, outputTokens: Int64, reasoningTokens: Int64, webSearchCalls: Int32,
                microdollars: Int64, pricedWith: String, estimated: Bool) {
        self.model = model
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.outputTokens = outputTokens
        self.reasoningTokens = reasoningTokens
        self.webSearchCalls = webSearchCalls
        self.microdollars = microdollars
        self.pricedWith = pricedWith
        self.estimated = estimated
    }
}

/// The sum of a session's costs, as the read model shows it.
public struct SessionCostTotals: Codable, Sendable, Equatable {
    public var inputTokens: Int64 = 0
    public var cachedInputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var reasoningTokens: Int64 = 0
    public var webSearchCalls: Int32 = 0
    public var microdollars: Int64 = 0
    /// True when any part was estimated.
    public var estimated = false
    /// The models charged, in the order they were first charged.
    public var models: [String] = []

    public init() {}

    /// Adds `cost`, saturating rather than trapping: a hostile usage figure cannot crash a fold.
    public mutating func add(_ cost: ProviderCost) {
        inputTokens = Self.sum(inputTokens, cost.inputTokens)
        cachedInputTokens = Self.sum(cachedInputTokens, cost.cachedInputTokens)
        outputTokens = Self.sum(outputTokens, cost.outputTokens)
        reasoningTokens = Self.sum(reasoningTokens, cost.reasoningTokens)
        let searches = webSearchCalls.addingReportingOverflow(cost.webSearchCalls)
        webSearchCalls = searches.overflow ? .max : searches.partialValue
        microdollars = Self.sum(microdollars, cost.microdollars)
        estimated = estimated || cost.estimated
        if !models.contains(cost.model) { models.append(cost.model) }
    }

    static func sum(_ a: Int64, _ b: Int64) -> Int64 {
        let result = a.addingReportingOverflow(b)
        return result.overflow ? (b > 0 ? .max : .min) : result.partialValue
    }
}
