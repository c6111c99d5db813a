import EventLog
import Foundation
import OpenAIResponses

/// What each model costs, per million tokens and per thousand web searches, in
/// US dollars: how a session's reported usage becomes money in the log.
///
/// The defaults are OpenAI's list prices as of `PriceTable.defaultDate`
/// (README, "What a session costs"); operators replace or extend them with
/// `OUTLINE_PRICES` (a JSON object, `PriceTable.parse`). A dated snapshot name
/// (`o3-deep-research-2025-06-26`) is priced as its model (longest prefix); a
/// model the table does not know is priced as the dearest one it does, so a
/// budget errs on the side of refusing.
public struct PriceTable: Sendable, Equatable {
    public struct Prices: Sendable, Equatable, Codable {
        public var input: Double
        public var cachedInput: Double
        public var output: Double
        /// Dollars per 1,000 web search calls.
        public var webSearchPer1000: Double

        public init(input: Double, cachedInput: Double, output: Double, webSearchPer1000: Double) {
            self.input = input
            self.cachedInput = cachedInput
            self.output = output
            self.webSearchPer1000 = webSearchPer1000
        }
    }

    /// The day the prices were read off the provider's price list: stored with
    /// every cost priced with them.
    public var date: String
    public var models: [String: Prices]

    public static let defaultDate = "2025-06-26"

    /// OpenAI's list prices (standard tier) for the models OutlineStream uses or
    /// the recorded streams show, as announced with deep research in the API.
    public static let defaults = PriceTable(date: defaultDate, models: [
        "o3-deep-research": Prices(input: 10, cachedInput: 2.5, output: 40, webSearchPer1000: 10),
        "o4-mini-deep-research": Prices(input: 2, cachedInput: 0.5, output: 8, webSearchPer1000: 10),
        "gpt-4.1-mini": Prices(input: 0.4, cachedInput: 0.1, output: 1.6, webSearchPer1000: 25),
        "gpt-4.1": Prices(input: 2, cachedInput: 0.5, output: 8, webSearchPer1000: 25),
        "gpt-5": Prices(input: 1.25, cachedInput: 0.125, output: 10, webSearchPer1000: 10),
        "gpt-5-mini": Prices(input: 0.25, cachedInput: 0.025, output: 2, webSearchPer1000: 10),
        "gpt-5-nano": Prices(input: 0.05, cachedInput: 0.005, output: 0.4, webSearchPer1000: 10),
    ])

    public init(date: String, models: [String: Prices]) {
        self.date = date
        self.models = models
    }

    /// The prices of `model`: its own, its longest prefix's, or the dearest.
    public func prices(of model: String) -> Prices {
        if let exact = models[model] { return exact }
        if let prefix = models.keys.filter({ model.hasPrefix($0 + "-") }).max(by: { $0.count < $1.count }) { return models[prefix]! }
        return models.values.max { $0.output < $1.output } ?? Prices(input: 0, cachedInput: 0, output: 0, webSearchPer1000: 0)
    }

    /// What `usage` and `webSearchCalls` cost on `model`.
    public func cost(model: String, usage: ResponseUsage, webSearchCalls: Int, estimated: Bool = false) -> ProviderCost {
        let prices = prices(of: model)
        let searches = Int64(min(max(webSearchCalls, 0), 1_000_000))
        // $ per million tokens = micro-dollars per token.
        let micro = Double(usage.inputTokens - usage.cachedInputTokens) * prices.input
            + Double(usage.cachedInputTokens) * prices.cachedInput
            + Double(usage.outputTokens) * prices.output
            + Double(searches) * prices.webSearchPer1000 * 1000
        return ProviderCost(model: model, inputTokens: usage.inputTokens, cachedInputTokens: usage.cachedInputTokens, outputTokens: usage.outputTokens,
                            reasoningTokens: usage.reasoningTokens, webSearchCalls: Int32(searches),
                            microdollars: micro.isFinite ? Int64(min(max(micro.rounded(), 0), 9e18)) : 0, pricedWith: date, estimated: estimated)
    }

    /// What a response cost, from the usage it reports; nil when it reports none.
    public func cost(of response: ResponseObject, model: String) -> ProviderCost? {
        guard let usage = response.tokenUsage else { return nil }
        return cost(model: response.model ?? model, usage: usage, webSearchCalls: response.webSearchCalls)
    }

    /// A research run's cost from what the log shows of it, when the provider has
    /// not reported usage (the run is still going, was cancelled or cut off).
    /// A floor, not a bill: the tokens a deep research model reads from its
    /// searches and spends thinking are not visible until it reports them, so
    /// each completed search is counted as `RunEstimate.inputTokensPerSearch`
    /// read and `reasoningTokensPerSearch` thought.
    public func estimate(model: String, _ run: RunEstimate) -> ProviderCost {
        let searches = Int64(max(run.webSearches, 0))
        let input = Int64(run.instructionsCharacters / 4) + RunEstimate.baseInputTokens + searches * RunEstimate.inputTokensPerSearch
        let reasoning = Int64(run.reasoningCharacters / 4) + searches * RunEstimate.reasoningTokensPerSearch
        let output = Int64(run.outputCharacters / 4) + reasoning
        return cost(model: model, usage: ResponseUsage(inputTokens: input, outputTokens: output, reasoningTokens: reasoning),
                    webSearchCalls: run.webSearches, estimated: true)
    }

    /// Replaces or adds models from a JSON object:
    /// `{"date": "2026-12-01", "models": {"o3-deep-research": {"input": 10, "cachedInput": 2.5, "output": 40, "webSearchPer1000": 10}}}`.
    /// Every price must be a number from 0 to 10,000 dollars; the date is required
    /// whenever a price changes, so no cost is ever stored under the wrong date.
    public static func parse(_ json: String, over base: PriceTable = .defaults) throws -> PriceTable {
        struct Overrides: Decodable {
            var date: String
            var models: [String: Prices]
        }
        let overrides: Overrides
        do {
            overrides = try JSONDecoder().decode(Overrides.self, from: Data(json.utf8))
        } catch {
            throw Invalid(reason: "not a price table: expected {\"date\": \"YYYY-MM-DD\", \"models\": {\"<model>\": {\"input\", \"cachedInput\", \"output\", \"webSearchPer1000\"}}} in dollars (\(error))")
        }
        guard overrides.date.count == 10, overrides.date.allSatisfy({ $0.isNumber || $0 == "-" }) else {
            throw Invalid(reason: "the date must be YYYY-MM-DD, not \(overrides.date.debugDescription)")
        }
        var table = base
        table.date = overrides.date
        for (model, prices) in overrides.models {
            guard !model.isEmpty, model.count <= 100 else { throw Invalid(reason: "a model name must be 1 to 100 characters") }
            for (name, value) in [("input", prices.input), ("cachedInput", prices.cachedInput), ("output", prices.output), ("webSearchPer1000", prices.webSearchPer1000)] {
                guard value.isFinite, (0...10_000).contains(value) else { throw Invalid(reason: "\(model).\(name) must be from 0 to 10000 dollars, not \(value)") }
            }
            table.models[model] = prices
        }
        return table
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }
}

/// What the log shows of a research run so far: what `PriceTable.estimate` prices.
public struct RunEstimate: Sendable, Equatable {
    public var instructionsCharacters: Int
    public var outputCharacters: Int
    public var reasoningCharacters: Int
    public var webSearches: Int

    /// The research model's system prompt and tool definitions.
    static let baseInputTokens: Int64 = 2_000
    /// The pages a search brings into the model's context.
    static let inputTokensPerSearch: Int64 = 8_000
    /// The thinking around each search.
    static let reasoningTokensPerSearch: Int64 = 1_000

    public init(instructionsCharacters: Int = 0, outputCharacters: Int = 0, reasoningCharacters: Int = 0, webSearches: Int = 0) {
        self.instructionsCharacters = instructionsCharacters
        self.outputCharacters = outputCharacters
        self.reasoningCharacters = reasoningCharacters
        self.webSearches = webSearches
    }
}
