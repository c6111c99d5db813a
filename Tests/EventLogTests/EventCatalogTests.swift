@testable import EventLog
import Foundation
import Testing
import TestSupport

@Suite("Event catalog")
struct EventCatalogTests {
    @Test("every event type encodes to JSON and decodes back equal")
    func roundTrip() throws {
        let events = SampleEvents.everyType() + SampleEvents.otherTerminals
        #expect(Set(events.map(\.eventType)) == Set(EventCatalog.knownTypes.keys))
        for event in events {
            let json = try EventCatalog.encode(event)
            #expect(try EventCatalog.decode(eventType: event.eventType, schemaVersion: event.schemaVersion, json: json) == event)
        }
    }

    @Test("an unknown type or a newer schema version is kept raw, not an error")
    func unknownKeptRaw() throws {
        let json = Array(#"{"anything":[1,2,3]}"#.utf8)
        let unknownType = try EventCatalog.decode(eventType: "future.event", schemaVersion: 1, json: json)
        #expect(unknownType == .unknown(UnknownEvent(eventType: "future.event", schemaVersion: 1, json: json)))
        let newerVersion = try EventCatalog.decode(eventType: OutputTextDelta.eventType, schemaVersion: 99, json: json)
        #expect(newerVersion.eventType == OutputTextDelta.eventType)
        if case .unknown = newerVersion {} else { Issue.record("a newer version was decoded as if known") }
        #expect(try EventCatalog.encode(newerVersion) == json)
    }

    @Test("a known type whose JSON does not match is an error")
    func malformedKnownType() {
        #expect(throws: (any Error).self) {
            try EventCatalog.decode(eventType: OutputTextDelta.eventType, schemaVersion: 1, json: Array("{\"delta\": 5}".utf8))
        }
    }
}

@Suite("Hand-written delta JSON")
struct DeltaJSONTests {
    @Test("writes exactly what the generic encoder writes, for awkward text too", arguments: [
        "plain", "", "quote \" and backslash \\ and slash /", "new\nline\r\ttab", "\u{01}\u{1F} controls", "– ’ “unicode” 🌊 é",
    ])
    func matchesGenericEncoder(text: String) throws {
        let events: [OutlineEvent] = [
            .outputTextDelta(OutputTextDelta(itemId: "msg_1", outputIndex: 2, contentIndex: 0, delta: text, providerSequence: 41)),
            .outputTextDelta(OutputTextDelta(itemId: nil, outputIndex: -1, contentIndex: 3, delta: text, providerSequence: nil)),
            .reasoningSummaryDelta(ReasoningSummaryDelta(itemId: "rs_\(text)", summaryIndex: 1, delta: text, providerSequence: 7)),
            .reasoningSummaryDelta(ReasoningSummaryDelta(itemId: "rs", summaryIndex: 0, delta: text, providerSequence: nil)),
        ]
        for event in events {
            let fast = try EventCatalog.encode(event)
            #expect(try EventCatalog.decode(eventType: event.eventType, schemaVersion: 1, json: fast) == event)
            #expect(String(decoding: fast, as: UTF8.self) == String(decoding: try EventCatalog.encodeGenerically(event), as: UTF8.self))
        }
    }
}

@Suite("Flat JSON reader for deltas")
struct FlatJSONTests {
    @Test("reads what the generic encoder writes, escapes and surrogate pairs included")
    func readsGenericOutput() throws {
        let texts = ["plain", "", "q\"b\\s/", "n\nr\rt\t", "\u{01}\u{1F}", "– ’ 🌊 é", "\u{2028}"]
        for text in texts {
            let event = OutputTextDelta(itemId: "i\(text)", outputIndex: 2, contentIndex: 0, delta: text, providerSequence: 9)
            let json = try EventCatalog.encodeGenerically(.outputTextDelta(event))
            #expect(DeltaJSON.decodeOutputTextDelta(json) == event)
        }
        let escaped = Array(#"{"delta":"\ud83c\udf0a \u00e9 \/","itemId":null,"outputIndex":-1,"contentIndex":0}"#.utf8)
        #expect(DeltaJSON.decodeOutputTextDelta(escaped) == OutputTextDelta(itemId: nil, outputIndex: -1, contentIndex: 0, delta: "🌊 é /", providerSequence: nil))
    }

    @Test("anything unusual falls back to the generic decoder, which judges it", arguments: [
        #"{"delta":"a","outputIndex":1.5,"contentIndex":0}"#,
        #"{"delta":"a","outputIndex":1,"contentIndex":0,"extra":{"nested":true}}"#,
        #"{"delta":5,"outputIndex":1,"contentIndex":0}"#,
        #"{"delta":"a","outputIndex":1}"#,
        #"{"delta":"a","outputIndex":1,"contentIndex":0} trailing"#,
        #"{"delta":"unterminated"#,
        #"{"delta":"bad \x escape","outputIndex":1,"contentIndex":0}"#,
        #"{"delta":"a","outputIndex":99999999999,"contentIndex":0}"#,
    ])
    func fallsBack(json: String) {
        #expect(DeltaJSON.decodeOutputTextDelta(Array(json.utf8)) == nil)
    }

    @Test("the catalog still decodes a delta with an extra nested field through the fallback")
    func catalogFallback() throws {
        let json = Array(#"{"delta":"a","outputIndex":1,"contentIndex":0,"extra":{"nested":true}}"#.utf8)
        let event = try EventCatalog.decode(eventType: OutputTextDelta.eventType, schemaVersion: 1, json: json)
        #expect(event == .outputTextDelta(OutputTextDelta(itemId: nil, outputIndex: 1, contentIndex: 0, delta: "a", providerSequence: nil)))
    }
}
