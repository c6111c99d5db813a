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
