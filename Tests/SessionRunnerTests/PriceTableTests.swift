import EventLog
import Foundation
import OpenAIResponses
import OutlineJSON
import SessionRunner
import Testing
import TestSupport

@Suite("What a session costs: usage as the provider reports it, priced with a dated table")
struct PriceTableTests {
    @Test("the recorded web-search stream's completed response is priced from its usage and its six searches, exactly")
    func recordedUsage() throws {
        let events = try RecordedStreams.payloads("openai-web-search-tool.1").map(ResponseStreamEvent.decode)
            .flatMap { ProviderEventMapping.domainEvents(for: $0, prices: .defaults, model: "o3-deep-research") }
        guard case .completed(let completed) = events.last, let cost = completed.cost else { Issue.record("no priced completed event"); return }
        // The response names its model (gpt-5-mini-2025-08-07): priced as gpt-5-mini, not as the requested one.
        #expect(cost.model == "gpt-5-mini-2025-08-07")
        #expect(cost.inputTokens == 31_073 && cost.cachedInputTokens == 3_712)
        #expect(cost.outputTokens == 4_416 && cost.reasoningTokens == 3_712)
        #expect(cost.webSearchCalls == 6)
        // 27,361 × $0.25 + 3,712 × $0.025 + 4,416 × $2.00 per million, + 6 × $10 per thousand searches.
        #expect(cost.microdollars == 75_765)
        #expect(cost.pricedWith == PriceTable.defaultDate && !cost.estimated)
        #expect(completed.usage != nil, "the raw usage object is kept beside the priced one")
    }

    @Test("a failed stream that reports no usage carries no provider-reported cost (the runner estimates one)")
    func failedWithoutUsage() throws {
        let events = try RecordedStreams.payloads("openai-error.1").map(ResponseStreamEvent.decode)
            .flatMap { ProviderEventMapping.domainEvents(for: $0, prices: .defaults, model: "o3-deep-research") }
        guard case .failed(let failed) = events.last else { Issue.record("no failed event"); return }
        #expect(failed.cost == nil)
    }

    @Test("deep research at list price: input, cached input, output and searches")
    func deepResearchPrice() {
        let usage = ResponseUsage(inputTokens: 1_000_000, cachedInputTokens: 200_000, outputTokens: 50_000, reasoningTokens: 40_000)
        let cost = PriceTable.defaults.cost(model: "o3-deep-research-2025-06-26", usage: usage, webSearchCalls: 20)
        // 800k × $10 + 200k × $2.50 + 50k × $40 per million + 20 × $0.01 = 8 + 0.5 + 2 + 0.2 = $10.70
        #expect(cost.microdollars == 10_700_000)
        #expect(cost.model == "o3-deep-research-2025-06-26")
    }

    @Test("a model the table does not know is priced as the dearest it knows")
    func unknownModel() {
        let usage = ResponseUsage(inputTokens: 0, outputTokens: 1_000_000)
        #expect(PriceTable.defaults.cost(model: "o9-hyper-research", usage: usage, webSearchCalls: 0).microdollars == 40_000_000)
    }

    @Test("hostile usage figures are clamped: negative, fractional, huge, strings and a cached count above the input")
    func hostileUsage() throws {
        let usage = try #require(ResponseUsage(.object([
            "input_tokens": .number(-5), "output_tokens": .number(1e300),
            "input_tokens_details": .object(["cached_tokens": .number(99)]),
            "output_tokens_details": .string("lots"),
        ])))
        #expect(usage.inputTokens == 0 && usage.cachedInputTokens == 0)
        #expect(usage.outputTokens == 1_000_000_000_000 && usage.reasoningTokens == 0)
        let cost = PriceTable.defaults.cost(model: "o3-deep-research", usage: usage, webSearchCalls: Int.max)
        #expect(cost.microdollars > 0 && cost.webSearchCalls == 1_000_000)
        #expect(ResponseUsage(.null) == nil && ResponseUsage(nil) == nil && ResponseUsage(.array([])) == nil)
    }

    @Test("an estimate from the log counts searches as read and thought, and says it is an estimate")
    func estimate() {
        let cost = PriceTable.defaults.estimate(model: "o3-deep-research", RunEstimate(instructionsCharacters: 4_000, outputCharacters: 8_000,
                                                                                        reasoningCharacters: 400, webSearches: 3))
        #expect(cost.estimated)
        #expect(cost.inputTokens == 1_000 + 2_000 + 3 * 8_000)
        #expect(cost.reasoningTokens == 100 + 3 * 1_000)
        #expect(cost.outputTokens == 2_000 + cost.reasoningTokens)
        #expect(cost.webSearchCalls == 3)
        #expect(cost.microdollars == 27_000 * 10 + cost.outputTokens * 40 + 30_000)
    }

    @Test("operators override prices with a dated JSON table; bad tables are refused with what is wrong")
    func parse() throws {
        let table = try PriceTable.parse(#"{"date": "2026-12-01", "models": {"o3-deep-research": {"input": 8, "cachedInput": 2, "output": 32, "webSearchPer1000": 10}}}"#)
        #expect(table.date == "2026-12-01")
        #expect(table.prices(of: "o3-deep-research").input == 8)
        #expect(table.prices(of: "gpt-4.1-mini") == PriceTable.defaults.prices(of: "gpt-4.1-mini"), "models not named keep their defaults")
        for (json, says) in [
            (#"{"models": {}}"#, "not a price table"),
            (#"{"date": "yesterday", "models": {}}"#, "YYYY-MM-DD"),
            (#"{"date": "2026-12-01", "models": {"m": {"input": -1, "cachedInput": 0, "output": 0, "webSearchPer1000": 0}}}"#, "m.input"),
            (#"{"date": "2026-12-01", "models": {"m": {"input": 1e9, "cachedInput": 0, "output": 0, "webSearchPer1000": 0}}}"#, "from 0 to 10000"),
            ("[1, 2]", "not a price table"),
        ] {
            #expect(throws: PriceTable.Invalid.self, "\(json)") { try PriceTable.parse(json) }
            do { _ = try PriceTable.parse(json) } catch { #expect("\(error)".contains(says), "\(json): \(error)") }
        }
    }

    @Test("a session's totals add its calls' costs without trapping")
    func totals() {
        var totals = SessionCostTotals()
        let fast = ProviderCost(model: "gpt-4.1-mini", inputTokens: 200, cachedInputTokens: 0, outputTokens: 50, reasoningTokens: 0, webSearchCalls: 0,
                                microdollars: 160, pricedWith: "2025-06-26", estimated: false)
        let research = ProviderCost(model: "o3-deep-research", inputTokens: .max, cachedInputTokens: 0, outputTokens: 1, reasoningTokens: 0, webSearchCalls: .max,
                                    microdollars: .max, pricedWith: "2025-06-26", estimated: true)
        totals.add(fast)
        totals.add(fast)
        #expect(totals.microdollars == 320 && totals.models == ["gpt-4.1-mini"] && !totals.estimated)
        totals.add(research)
        #expect(totals.microdollars == .max && totals.inputTokens == .max && totals.webSearchCalls == .max)
        #expect(totals.models == ["gpt-4.1-mini", "o3-deep-research"] && totals.estimated)
    }
}
