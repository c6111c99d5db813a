import Foundation
import OutlineJSON

/// One event of a Responses API stream (`stream: true`), typed.
///
/// Every event carries the provider's `sequence_number`: dense from 0 within a
/// stream, it is how a resumed stream (`starting_after=N`) lines up with what was
/// stored. Event types this client does not model are kept as `.other` with
/// their JSON, never dropped.
public struct ResponseStreamEvent: Sendable, Equatable {
    public var type: String
    public var sequenceNumber: Int
    public var kind: Kind
    /// When its bytes reached this process (set by `ResponsesClient`'s streams),
    /// so the runner can time the provider → runner stage. Not part of equality.
    public var receivedAt: ContinuousClock.Instant?

    public init(type: String, sequenceNumber: Int, kind: Kind, receivedAt: ContinuousClock.Instant? = nil) {
        self.type = type
        self.sequenceNumber = sequenceNumber
        self.kind = kind
        self.receivedAt = receivedAt
    }

    public static func == (a: ResponseStreamEvent, b: ResponseStreamEvent) -> Bool {
        a.type == b.type && a.sequenceNumber == b.sequenceNumber && a.kind == b.kind
    }

    public enum Kind: Sendable, Equatable {
        /// `response.created`, `.queued`, `.in_progress`, `.completed`, `.failed`, `.incomplete`, `.cancelled`.
        case lifecycle(ResponseObject)
        /// `response.output_item.added`
        case outputItemAdded(outputIndex: Int, item: OutputItem)
        /// `response.output_item.done` (a web search's query and sources arrive here)
        case outputItemDone(outputIndex: Int, item: OutputItem)
        /// `response.web_search_call.in_progress`, `.searching`, `.completed`
        case webSearchCall(status: String, itemID: String, outputIndex: Int)
        /// `response.reasoning_summary_text.delta`
        case reasoningSummaryDelta(itemID: String, outputIndex: Int, summaryIndex: Int, delta: String)
        /// `response.output_text.delta`
        case outputTextDelta(itemID: String, outputIndex: Int, contentIndex: Int, delta: String)
        /// `response.output_text.done`: the whole text of the part.
        case outputTextDone(itemID: String, outputIndex: Int, contentIndex: Int, text: String)
        /// `response.output_text.annotation.added`
        case annotationAdded(itemID: String, outputIndex: Int, contentIndex: Int, annotationIndex: Int, annotation: Annotation)
        /// `error`: the provider reports a failure inside the stream.
        case error(code: String?, message: String, errorType: String?)
        /// Anything else (content part, reasoning part and function call events...).
        case other(json: String)
    }

    static let lifecycleTypes: Set<String> = [
        "response.created", "response.queued", "response.in_progress", "response.completed",
        "response.failed", "response.incomplete", "response.cancelled",
    ]

    /// Decodes the JSON `data` of one stream event: the deltas a run receives by
    /// the thousand in one pass over their bytes (`fastDelta`), everything else,
    /// and any delta the fast path does not vouch for, with the generic decoder.
    public static func decode(_ data: String) throws -> ResponseStreamEvent {
        if let delta = fastDelta(Array(data.utf8)) { return delta }
        return try decode(Data(data.utf8), text: data)
    }

    private static func decode(_ bytes: Data, text data: String) throws -> ResponseStreamEvent {
        let decoder = JSONDecoder()
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: bytes)
        } catch {
            throw ResponsesError.malformedEvent("a stream event without type or sequence_number: \(data.prefix(200))")
        }
        do {
            let kind: Kind
            switch header.type {
            case let type where lifecycleTypes.contains(type):
                kind = .lifecycle(try decoder.decode(Lifecycle.self, from: bytes).response)
            case "response.output_item.added":
                let body = try decoder.decode(ItemEvent.self, from: bytes)
                kind = .outputItemAdded(outputIndex: body.output_index, item: body.item)
            case "response.output_item.done":
                let body = try decoder.decode(ItemEvent.self, from: bytes)
                kind = .outputItemDone(outputIndex: body.output_index, item: body.item)
            case "response.web_search_call.in_progress", "response.web_search_call.searching", "response.web_search_call.completed":
                let body = try decoder.decode(WebSearchEvent.self, from: bytes)
                kind = .webSearchCall(status: String(header.type.split(separator: ".").last!), itemID: body.item_id, outputIndex: body.output_index)
            case "response.reasoning_summary_text.delta":
                let body = try decoder.decode(ReasoningDelta.self, from: bytes)
                kind = .reasoningSummaryDelta(itemID: body.item_id, outputIndex: body.output_index, summaryIndex: body.summary_index, delta: body.delta)
            case "response.output_text.delta":
                let body = try decoder.decode(TextDelta.self, from: bytes)
                kind = .outputTextDelta(itemID: body.item_id, outputIndex: body.output_index, contentIndex: body.content_index, delta: body.delta)
            case "response.output_text.done":
                let body = try decoder.decode(TextDone.self, from: bytes)
                kind = .outputTextDone(itemID: body.item_id, outputIndex: body.output_index, contentIndex: body.content_index, text: body.text)
            case "response.output_text.annotation.added":
                let body = try decoder.decode(AnnotationEvent.self, from: bytes)
                kind = .annotationAdded(itemID: body.item_id, outputIndex: body.output_index, contentIndex: body.content_index,
                                        annotationIndex: body.annotation_index, annotation: body.annotation)
            case "error":
                let body = try decoder.decode(ErrorEvent.self, from: bytes)
                kind = .error(code: body.error?.code ?? body.code, message: body.error?.message ?? body.message ?? "the provider reported an error",
                              errorType: body.error?.type)
            default:
                kind = .other(json: data)
            }
            return ResponseStreamEvent(type: header.type, sequenceNumber: header.sequence_number, kind: kind)
        } catch {
            throw ResponsesError.malformedEvent("\(header.type) #\(header.sequence_number) does not match its schema: \(error)")
        }
    }

    /// `response.output_text.delta` and `response.reasoning_summary_text.delta`
    /// read straight from their flat object, or nil (then the generic decoder
    /// decides, and reports errors). Tests hold it equal to the generic decoder on
    /// the recorded streams and on generated ones.
    static func fastDelta(_ bytes: [UInt8]) -> ResponseStreamEvent? {
        guard let object = FlatJSONObject(bytes), let type = object.string("type"),
              let sequence = object.integer("sequence_number").flatMap(Int.init(exactly:)),
              let itemID = object.string("item_id"), let delta = object.string("delta"),
              let outputIndex = object.integer("output_index").flatMap(Int.init(exactly:)) else { return nil }
        switch type {
        case "response.output_text.delta":
            guard let contentIndex = object.integer("content_index").flatMap(Int.init(exactly:)) else { return nil }
            return ResponseStreamEvent(type: type, sequenceNumber: sequence,
                                       kind: .outputTextDelta(itemID: itemID, outputIndex: outputIndex, contentIndex: contentIndex, delta: delta))
        case "response.reasoning_summary_text.delta":
            guard let summaryIndex = object.integer("summary_index").flatMap(Int.init(exactly:)) else { return nil }
            return ResponseStreamEvent(type: type, sequenceNumber: sequence,
                                       kind: .reasoningSummaryDelta(itemID: itemID, outputIndex: outputIndex, summaryIndex: summaryIndex, delta: delta))
        default:
            return nil
        }
    }

    /// The generic decoder alone, for tests that compare the two paths.
    static func decodeGenerically(_ data: String) throws -> ResponseStreamEvent {
        try decode(Data(data.utf8), text: data)
    }

    // Wire shapes, named as the provider names the fields.
    private struct Header: Decodable { var type: String; var sequence_number: Int }
    private struct Lifecycle: Decodable { var response: ResponseObject }
    private struct ItemEvent: Decodable { var output_index: Int; var item: OutputItem }
    private struct WebSearchEvent: Decodable { var output_index: Int; var item_id: String }
    private struct ReasoningDelta: Decodable { var item_id: String; var output_index: Int; var summary_index: Int; var delta: String }
    private struct TextDelta: Decodable { var item_id: String; var output_index: Int; var content_index: Int; var delta: String }
    private struct TextDone: Decodable { var item_id: String; var output_index: Int; var content_index: Int; var text: String }
    private struct AnnotationEvent: Decodable {
        var item_id: String; var output_index: Int; var content_index: Int; var annotation_index: Int; var annotation: Annotation
    }
    private struct ErrorEvent: Decodable {
        struct Body: Decodable { var type: String?; var code: String?; var message: String }
        var error: Body?
        var code: String?
        var message: String?
    }
}
