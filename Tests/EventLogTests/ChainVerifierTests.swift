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

            // An attacker with full rights: disable the guard, alter three sessions
            // in three different ways, restore the guard.
            let attacker = try await PostgresConnection.connect(TestDatabase.superuser(for: settings))
            try await attacker.execute("ALTER TABLE outline_events DISABLE TRIGGER outline_events_no_update_or_delete")
            let forged = Array(#"{"contentIndex":0,"delta":"FORGED","outputIndex":0}"#.utf8)
            try await attacker.query(
                "UPDATE outline_events SET payload = $1, codec = 0, raw_size = $2 WHERE session_id = $3 AND sequence = 12",
                PostgresBytes(forged), Int32(forged.count), sessions[1]
            )
            let originalType = try await attacker.query("SELECT event_type FROM outline_events WHERE session_id = $1 AND sequence = 1", sessions[2])[0]
                .decode(String.self, at: 0)
            try await attacker.query("UPDATE outline_events SET event_type = 'session.cancelled' WHERE session_id = $1 AND sequence = 1", sessions[2])
            try await attacker.query("UPDATE outline_events SET chain_link = $1 WHERE session_id = $2 AND sequence = 7",
                                     PostgresBytes([UInt8](repeating: 7, count: 32)), sessions[0])
            try await attacker.execute("ALTER TABLE outline_events ENABLE TRIGGER outline_events_no_update_or_delete")
            // And a whole forged session, with a valid chain, inserted past the append function.
            let forgedSession = UUID()
            let forgedJSON = try EventCatalog.encode(.sessionStarted(SessionStarted(workflowId: "wf-forged", prompt: "p", mode: .streaming, requestedBy: "x")))
            try await attacker.query(
                """
                INSERT INTO outline_events (position, session_id, sequence, event_type, schema_version, codec, payload, raw_size, recorded_at, chain_link)
                VALUES ((SELECT max(position) + 1000 FROM outline_events), $1, 1, 'session.started', 1, 0, $2, $3, now(), $4)
                """,
                forgedSession, PostgresBytes(forgedJSON), Int32(forgedJSON.count),
                PostgresBytes(ChainLink.next(previous: ChainLink.genesis, sequence: 1, eventType: "session.started", json: forgedJSON))
            )
            await attacker.close()

            let tampered = try await verifier.verifyAll()
            #expect(tampered.breaks.count == 4)
            #expect(tampered.sessions == 4)
            #expect(tampered.breaks.first { $0.sessionID == forgedSession }?.differs == .streamHead)
            let bySession = Dictionary(tampered.breaks.map { ($0.sessionID, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(bySession[sessions[1]]?.sequence == 12)
            #expect(bySession[sessions[1]]?.differs == .payload)
            #expect(bySession[sessions[1]]?.position != nil)
            #expect(bySession[sessions[2]]?.sequence == 1)
            #expect(bySession[sessions[2]]?.differs == .eventType)
            #expect(bySession[sessions[2]]?.reason.contains(originalType) == true)
            #expect(bySession[sessions[0]]?.sequence == 7)
            #expect(bySession[sessions[0]]?.differs == .chainLink)
            #expect(bySession[sessions[0]]?.description.contains("0707070707070707") == true)
            let one = try await verifier.verify(session: sessions[1])
            #expect(one.breaks.map(\.sequence) == [12])
        }
    }

    @Test("a session rewritten whole, chain and head recomputed, verifies against itself but not against anchors taken before")
    func anchorsCatchRewrittenHistory() async throws {
        try await TestDatabase.withDatabase { pool, settings in
            let store = EventStore(pool: pool)
            let sessions = (0..<3).map { _ in UUID() }
            for (i, session) in sessions.enumerated() {
                try await store.append(StreamAppend(sessionID: session, expectedSequence: 0,
                                                    events: SampleEvents.session(workflowId: "wf-a\(i)", deltas: 20, seed: i).map { NewEvent($0) }))
            }
            let anchors = try await ChainAnchor.heads(pool)
            #expect(anchors.count == 3)
            #expect(try await ChainAnchor.check(anchors, pool: pool).isEmpty)

            // A thorough attacker: change event 9's payload, recompute every later link and the head.
            let victim = sessions[1]
            let attacker = try await PostgresConnection.connect(TestDatabase.superuser(for: settings))
            try await attacker.execute("ALTER TABLE outline_events DISABLE TRIGGER outline_events_no_update_or_delete")
            let rows = try await attacker.query("SELECT sequence, event_type, codec, payload, raw_size FROM outline_events WHERE session_id = $1 ORDER BY sequence", victim)
            var link = ChainLink.genesis
            for row in rows {
                let sequence = try row.decode(Int32.self, at: 0)
                let type = try row.decode(String.self, at: 1)
                var json = try PayloadCodec(rawValue: try row.decode(Int16.self, at: 2))!.decode(try row.decode(PostgresBytes.self, at: 3).bytes, rawSize: try row.decode(Int.self, at: 4))
                if sequence == 9 {
                    json = Array(#"{"contentIndex":0,"delta":"REWRITTEN","outputIndex":0}"#.utf8)
                    try await attacker.query("UPDATE outline_events SET payload = $1, codec = 0, raw_size = $2 WHERE session_id = $3 AND sequence = 9",
                                             PostgresBytes(json), Int32(json.count), victim)
                }
                link = ChainLink.next(previous: link, sequence: sequence, eventType: type, json: json)
                try await attacker.query("UPDATE outline_events SET chain_link = $1 WHERE session_id = $2 AND sequence = $3", PostgresBytes(link), victim, sequence)
            }
            try await attacker.query("UPDATE outline_event_streams SET head_link = $1 WHERE session_id = $2", PostgresBytes(link), victim)
            try await attacker.execute("ALTER TABLE outline_events ENABLE TRIGGER outline_events_no_update_or_delete")
            await attacker.close()

            #expect(try await ChainVerifier(pool: pool).verifyAll().isIntact)   // the chain alone cannot tell
            let found = try await ChainAnchor.check(anchors, pool: pool)
            #expect(found.count == 1)
            #expect(found.first?.sessionID == victim)
            #expect(found.first?.differs == .anchoredLink)
            #expect(found.first?.sequence == anchors.first { $0.sessionId == victim }?.sequence)
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
