import EventLog
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
