import EventLog
import Foundation
import PostgresClient
import Testing
import TestSupport

@Suite("Hash chain")
struct ChainVerifierTests {
    @Test("an untouched log verifies; a row tampered with by a superuser is named")
    func tamperDetected() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            let store = EventStore(pool: pool)
            let sessions = (0..<3).map { _ in UUID() }
            for (i, session) in sessions.enumerated() {
                let events = SampleEvents.session(workflowId: "wf-\(i)", deltas: 30, seed: i)
                try await store.append(StreamAppend(sessionID: session, expectedSequence: 0, events: events.map { NewEvent($0) }))
            }
            let verifier = ChainVerifier(pool: pool)
            let clean = try await verifier.verifyAll()
            #expect(clean.isIntact)
            #expect(clean.sessions == 3)
            #expect(clean.events > 90)

            // An attacker with full rights: disable the guard, change a delta, restore the guard.
            let attacker = try await PostgresConnection.connect(TestDatabase.superuser(for: settings))
            try await attacker.execute("ALTER TABLE outline_events DISABLE TRIGGER outline_events_no_update_or_delete")
            try await attacker.query(
                "UPDATE outline_events SET payload = $1, raw_size = $2 WHERE session_id = $3 AND sequence = 12",
                PostgresBytes(Array(#"{"contentIndex":0,"delta":"FORGED","outputIndex":0}"#.utf8)), Int32(49), sessions[1]
            )
            try await attacker.execute("ALTER TABLE outline_events ENABLE TRIGGER outline_events_no_update_or_delete")
            await attacker.close()

            let tampered = try await verifier.verifyAll()
            #expect(tampered.breaks.count == 1)
            #expect(tampered.breaks.first?.sessionID == sessions[1])
            #expect(tampered.breaks.first?.sequence == 12)
            #expect(try await verifier.verify(session: sessions[0]).isIntact)
        }
    }

    @Test("links chain over sequence, type and payload digest")
    func linkDefinition() {
        let json = Array("{}".utf8)
        let first = ChainLink.next(previous: ChainLink.genesis, sequence: 1, eventType: "a", json: json)
        #expect(first.count == 32)
        #expect(first != ChainLink.next(previous: ChainLink.genesis, sequence: 2, eventType: "a", json: json))
        #expect(first != ChainLink.next(previous: ChainLink.genesis, sequence: 1, eventType: "b", json: json))
        #expect(first != ChainLink.next(previous: ChainLink.genesis, sequence: 1, eventType: "a", json: Array("[]".utf8)))
        #expect(first == ChainLink.next(previous: ChainLink.genesis, sequence: 1, eventType: "a", payloadDigest: ChainLink.payloadDigest(json)))
    }
}
