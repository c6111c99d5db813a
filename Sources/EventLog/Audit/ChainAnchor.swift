import Foundation
import PostgresClient

/// A session's chain link at one sequence, kept outside the database.
///
/// The hash chain proves a session was not altered relative to its own stored
/// head; someone able to rewrite a whole session, head included, produces a
/// chain that verifies. Anchors close that gap: taken now (`outline-admin
/// anchor`) and stored elsewhere, they let a later `verify --anchors` prove that
/// each anchored event still carries the link it had, so everything up to it is
/// unchanged.
public struct ChainAnchor: Sendable, Equatable, Codable {
    public var sessionId: UUID
    public var sequence: Int32
    /// Hex of the link.
    public var chainLink: String

    enum CodingKeys: String, CodingKey {
        case sessionId = "session_id", sequence, chainLink = "chain_link"
    }

    /// Session ids in lower case, as everywhere else in exports.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sessionId.uuidString.lowercased(), forKey: .sessionId)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(chainLink, forKey: .chainLink)
    }

    public init(sessionId: UUID, sequence: Int32, chainLink: String) {
        self.sessionId = sessionId
        self.sequence = sequence
        self.chainLink = chainLink
    }

    /// Every session's head: the strongest anchor, covering the whole session as it is now.
    public static func heads(_ pool: PostgresPool) async throws -> [ChainAnchor] {
        try await pool.query("SELECT session_id, head_sequence, head_link FROM outline_event_streams WHERE head_sequence > 0 ORDER BY session_id").map {
            ChainAnchor(sessionId: try $0.decode(UUID.self, at: 0), sequence: try $0.decode(Int32.self, at: 1),
                        chainLink: Hex.encode(try $0.decode(PostgresBytes.self, at: 2).bytes))
        }
    }

    /// Anchors whose event is gone or carries another link now, as verifier breaks.
    public static func check(_ anchors: [ChainAnchor], pool: PostgresPool, pageSize: Int = 10_000) async throws -> [ChainVerifier.Break] {
        var breaks: [ChainVerifier.Break] = []
        for start in stride(from: 0, to: anchors.count, by: pageSize) {
            let page = Array(anchors[start..<min(start + pageSize, anchors.count)])
            let rows = try await pool.query(
                """
                SELECT a.ordinality::int8, e.position, e.chain_link, coalesce(c.covered_through, 0) >= a.sequence
                  FROM unnest($1::uuid[], $2::int4[]) WITH ORDINALITY AS a(session_id, sequence, ordinality)
                  LEFT JOIN outline_events e ON e.session_id = a.session_id AND e.sequence = a.sequence
                  LEFT JOIN outline_compacted_sessions c ON c.session_id = a.session_id
                """,
                PostgresArray(page.map(\.sessionId)), PostgresArray(page.map(\.sequence))
            )
            for row in rows {
                let anchor = page[Int(try row.decode(Int64.self, at: 0)) - 1]
                var stored = try row.decode(PostgresBytes?.self, at: 2)?.bytes
                var position = try row.decode(Int64?.self, at: 1)
                if try row.decode(Bool.self, at: 3) {
                    // Compacted: the segment's copy is the one readers see.
                    let event: SegmentEvent?
                    do {
                        event = try await EventStore.segmentEvents(pool: pool, session: anchor.sessionId, after: anchor.sequence - 1,
                                                                   through: anchor.sequence, limit: 1).first
                    } catch EventLogError.sessionRemoved {
                        continue   // removed by retention, on the record: not a rewrite
                    }
                    stored = event?.chainLink
                    position = event?.position
                }
                guard let stored else {
                    breaks.append(.init(sessionID: anchor.sessionId, sequence: anchor.sequence, position: nil, differs: .missingEvent,
                                        reason: "the anchored event is no longer in the log"))
                    continue
                }
                let storedHex = Hex.encode(stored)
                if storedHex != anchor.chainLink.lowercased() {
                    breaks.append(.init(sessionID: anchor.sessionId, sequence: anchor.sequence, position: position,
                                        differs: .anchoredLink,
                                        reason: "the event's link is not the anchored one: this session's history up to here was rewritten (its chain and head recomputed)",
                                        storedLink: storedHex, recomputedLink: anchor.chainLink.lowercased()))
                }
            }
        }
        return breaks
    }
}
