import Foundation
import PostgresClient

/// Walks sessions' hash chains and says where the log was altered.
///
/// Each event's link is recomputed from the previous link, its sequence, its type
/// and the SHA-256 of its decoded payload, and compared with the stored link. The
/// first mismatch, gap or undecodable payload of a session is reported; later
/// events of that session cannot be trusted either.
public struct ChainVerifier: Sendable {
    public struct Break: Sendable, Equatable, CustomStringConvertible {
        /// Which part of the event no longer matches what was hashed when it was appended.
        public enum Difference: String, Sendable {
            case payload, eventType = "event_type", sequence, chainLink = "chain_link", missingEvent = "missing event"
            case undecodablePayload = "undecodable payload", codec, streamHead = "stream head"
            /// The event's link differs from an anchor taken earlier (`ChainAnchor`).
            case anchoredLink = "anchored link"
            /// A compacted segment's body no longer matches its digest or cannot be unpacked.
            case segment
        }
        public var sessionID: UUID
        public var sequence: Int32
        public var position: Int64?
        public var differs: Difference
        public var reason: String
        /// The link stored in the row and the one recomputed from its contents (for an
        /// anchored link: the anchor's), hex, when both exist.
        public var storedLink: String?
        public var recomputedLink: String?
        public var description: String {
            var text = "session \(sessionID.uuidString.lowercased()) event \(sequence)\(position.map { " (position \($0))" } ?? ""): \(differs.rawValue) differs: \(reason)"
            if let storedLink, let recomputedLink { text += "; stored link \(storedLink.prefix(16))…, recomputed \(recomputedLink.prefix(16))…" }
            return text
        }
    }

    public struct Redacted: Sendable, Equatable {
        public var sessionID: UUID
        public var sequence: Int32
        public var eventType: String
        /// From the tombstone: the audit record, when, by whom, why.
        public var redaction: Tombstone.Redaction?
    }

    public struct Report: Sendable {
        public var sessions = 0
        public var events: Int64 = 0
        public var storedBytes: Int64 = 0
        public var rawBytes: Int64 = 0
        public var breaks: [Break] = []
        /// Sessions removed by retention: their history left by the audited path, not a break.
        public var removed: [UUID] = []
        /// Redacted events: content removed on the record, chain intact (what, when, why, by whom).
        public var redactions: [Redacted] = []
        /// How many anchors were checked, when any were (`ChainAnchor.check`).
        public var anchorsChecked: Int?
        public var isIntact: Bool { breaks.isEmpty }
    }

    public let pool: PostgresPool
    public var pageSize = 5000

    public init(pool: PostgresPool) { self.pool = pool }

    /// Verifies one session's chain up to its recorded head.
    public func verify(session: UUID) async throws -> Report {
        var report = Report()
        report.sessions = 1
        if let failure = try await walk(session: session, report: &report) { report.breaks.append(failure) }
        return report
    }

    /// Verifies every session in the log: every session with a stream head, and
    /// every session with events (rows inserted behind the append function's back
    /// have no head, and are reported).
    public func verifyAll() async throws -> Report {
        var report = Report()
        let sessions = try await pool.query(
            """
            SELECT session_id FROM outline_event_streams
            UNION
            SELECT DISTINCT session_id FROM outline_events
            ORDER BY 1
            """
        ).map { try $0.decode(UUID.self, at: 0) }
        for session in sessions {
            report.sessions += 1
            if let failure = try await walk(session: session, report: &report) { report.breaks.append(failure) }
        }
        return report
    }

    private func walk(session: UUID, report: inout Report) async throws -> Break? {
        var link = ChainLink.genesis
        var expected: Int32 = 1
        if try await pool.query("SELECT 1 FROM outline_removed_sessions WHERE session_id = $1", session).count > 0 {
            report.removed.append(session)
            return nil
        }
        if let failure = try await walkSegments(session: session, link: &link, expected: &expected, report: &report) { return failure }
        while true {
            let rows = try await pool.query(
                """
                SELECT position, sequence, event_type, codec, payload, raw_size, chain_link FROM outline_events
                 WHERE session_id = $1 AND sequence >= $2 AND sequence < $2::int8 + $3 ORDER BY sequence
                """,
                session, expected, Int32(clamping: pageSize)
            )
            for row in rows {
                let event = try StoredRow(row)
                report.events += 1
                report.storedBytes += Int64(event.stored.count)
                report.rawBytes += Int64(event.rawSize)
                guard event.sequence == expected else {
                    return Break(sessionID: session, sequence: expected, position: nil, differs: .missingEvent,
                                 reason: "event \(expected) is not in the log; the next stored event is \(event.sequence)")
                }
                guard let codec = PayloadCodec(rawValue: event.codec) else {
                    return Break(sessionID: session, sequence: event.sequence, position: event.position, differs: .codec,
                                 reason: "unknown codec \(event.codec)")
                }
                let json: [UInt8]
                do {
                    json = try codec.decode(event.stored, rawSize: event.rawSize)
                } catch {
                    return Break(sessionID: session, sequence: event.sequence, position: event.position, differs: .undecodablePayload,
                                 reason: "\(error)")
                }
                let recomputed = ChainLink.next(previous: link, sequence: event.sequence, eventType: event.eventType, json: json)
                guard recomputed == event.link else {
                    return try await diagnose(session: session, event: event, json: json, previous: link, recomputed: recomputed)
                }
                link = recomputed
                expected += 1
            }
            if rows.count < pageSize {
                // The window was short: the session ends here, or has a gap before later events.
                if let next = try await pool.query("SELECT min(sequence) FROM outline_events WHERE session_id = $1 AND sequence >= $2", session, expected)
                    .first.flatMap({ try $0.decode(Int32?.self, at: 0) }) {
                    return Break(sessionID: session, sequence: expected, position: nil, differs: .missingEvent,
                                 reason: "event \(expected) is not in the log; the next stored event is \(next)")
                }
                break
            }
        }
        let head = try await pool.query("SELECT head_sequence, head_link FROM outline_event_streams WHERE session_id = $1", session)
        if head.isEmpty && expected > 1 {
            return Break(sessionID: session, sequence: 1, position: nil, differs: .streamHead,
                         reason: "the session has \(expected - 1) events but no stream head: they were not appended through the log's append function")
        }
        if let row = head.first {
            let headSequence = try row.decode(Int32.self, at: 0)
            let headLink = try row.decode(PostgresBytes.self, at: 1).bytes
            if headSequence != expected - 1 {
                return Break(sessionID: session, sequence: expected, position: nil, differs: .streamHead,
                             reason: "the stream head says \(headSequence) events, the log holds \(expected - 1)")
            }
            if headLink != link {
                return Break(sessionID: session, sequence: headSequence, position: nil, differs: .streamHead,
                             reason: "the stream head's link does not match the last event's",
                             storedLink: Hex.encode(headLink), recomputedLink: Hex.encode(link))
            }
        }
        return nil
    }

    /// The compacted part of a session: every segment's digest and layout, then
    /// each event's link as for a hot row. Leaves `expected` after the last
    /// covered event, where the hot rows take over.
    private func walkSegments(session: UUID, link: inout [UInt8], expected: inout Int32, report: inout Report) async throws -> Break? {
        let covered = try await pool.query(
            "SELECT covered_through FROM outline_compacted_sessions WHERE session_id = $1", session
        ).first.map { try $0.decode(Int32.self, at: 0) } ?? 0
        guard covered > 0 else { return nil }
        var triedPack = false
        while expected <= covered {
            let rows = try await pool.query(
                "SELECT \(EventStore.segmentColumns) FROM outline_event_segments WHERE session_id = $1 AND last_sequence >= $2 ORDER BY first_sequence LIMIT 4",
                session, expected
            )
            var segments: [EventSegment] = []
            if rows.isEmpty && !triedPack {
                // None of its own: a small session's part of a pack (the pack's digest and layout checked).
                triedPack = true
                do {
                    if let part = try await EventStore.packPart(pool: pool, session: session) { segments.append(part.segment) }
                } catch EventLogError.corruptSegment(_, let first, let reason) {
                    return Break(sessionID: session, sequence: first, position: nil, differs: .segment, reason: reason)
                }
            }
            guard !rows.isEmpty || !segments.isEmpty else {
                return Break(sessionID: session, sequence: expected, position: nil, differs: .missingEvent,
                             reason: "compaction covered events through \(covered), but no segment holds event \(expected)")
            }
            for row in rows {
                let first = try row.decode(Int32.self, at: 1)
                do {
                    segments.append(try EventStore.decodeSegment(row))
                } catch {
                    return Break(sessionID: session, sequence: first, position: nil, differs: .segment, reason: "\(error)")
                }
            }
            for segment in segments where expected <= covered {
                for event in segment.events where event.sequence >= expected && event.sequence <= covered {
                    guard event.sequence == expected else {
                        return Break(sessionID: session, sequence: expected, position: nil, differs: .missingEvent,
                                     reason: "event \(expected) is in no segment; the next segment starts at \(event.sequence)")
                    }
                    report.events += 1
                    report.storedBytes += Int64(event.storedSize)
                    report.rawBytes += Int64(event.json.count)
                    let recomputed = ChainLink.next(previous: link, sequence: event.sequence, eventType: event.eventType, payloadDigest: event.payloadDigest)
                    if event.redactedDigest != nil {
                        report.redactions.append(Redacted(sessionID: session, sequence: event.sequence, eventType: event.eventType,
                                                          redaction: Tombstone.redaction(in: event.json)))
                    }
                    guard recomputed == event.chainLink else {
                        return Break(sessionID: session, sequence: event.sequence, position: event.position, differs: .chainLink,
                                     reason: "the compacted event's link does not follow from its contents and its predecessor",
                                     storedLink: Hex.encode(event.chainLink), recomputedLink: Hex.encode(recomputed))
                    }
                    link = recomputed
                    expected += 1
                }
            }
        }
        return nil
    }

    /// One event row as stored.
    struct StoredRow {
        var position: Int64
        var sequence: Int32
        var eventType: String
        var codec: Int16
        var stored: [UInt8]
        var rawSize: Int
        var link: [UInt8]

        init(_ row: PostgresRow) throws {
            position = try row.decode(Int64.self, at: 0)
            sequence = try row.decode(Int32.self, at: 1)
            eventType = try row.decode(String.self, at: 2)
            codec = try row.decode(Int16.self, at: 3)
            stored = try row.decode(PostgresBytes.self, at: 4).bytes
            rawSize = try row.decode(Int.self, at: 5)
            link = try row.decode(PostgresBytes.self, at: 6).bytes
        }
    }

    /// Works out which part of a broken event changed. The link covers the
    /// predecessor, the sequence, the type and the payload's digest: if another
    /// type or sequence reproduces the stored link, that column was rewritten; if
    /// the next event's link still follows from the stored one, the stored link is
    /// the original and the payload changed; otherwise the link itself was rewritten.
    private func diagnose(session: UUID, event: StoredRow, json: [UInt8], previous: [UInt8], recomputed: [UInt8]) async throws -> Break {
        func broken(_ differs: Break.Difference, _ reason: String) -> Break {
            Break(sessionID: session, sequence: event.sequence, position: event.position, differs: differs, reason: reason,
                  storedLink: Hex.encode(event.link), recomputedLink: Hex.encode(recomputed))
        }
        let digest = ChainLink.payloadDigest(json)
        for type in EventCatalog.knownTypes.keys.sorted() where type != event.eventType {
            if ChainLink.next(previous: previous, sequence: event.sequence, eventType: type, payloadDigest: digest) == event.link {
                return broken(.eventType, "the row says \(event.eventType), the chain was made for \(type)")
            }
        }
        for delta: Int32 in [-2, -1, 1, 2] {
            let original = event.sequence + delta
            if ChainLink.next(previous: previous, sequence: original, eventType: event.eventType, payloadDigest: digest) == event.link {
                return broken(.sequence, "the row says sequence \(event.sequence), the chain was made for \(original)")
            }
        }
        let storedLinkIsOriginal: Bool
        let next = try await pool.query(
            "SELECT position, sequence, event_type, codec, payload, raw_size, chain_link FROM outline_events WHERE session_id = $1 AND sequence = $2",
            session, event.sequence + 1
        )
        if let row = next.first {
            let following = try StoredRow(row)
            let followingJSON = try? PayloadCodec(rawValue: following.codec)?.decode(following.stored, rawSize: following.rawSize)
            storedLinkIsOriginal = followingJSON.map {
                ChainLink.next(previous: event.link, sequence: following.sequence, eventType: following.eventType, json: $0) == following.link
            } ?? false
        } else {
            let head = try await pool.query("SELECT head_link FROM outline_event_streams WHERE session_id = $1", session)
            storedLinkIsOriginal = try head.first.map { try $0.decode(PostgresBytes.self, at: 0).bytes == event.link } ?? false
        }
        if storedLinkIsOriginal {
            var reason = "the payload (\(json.count) bytes, SHA-256 \(Hex.encode(digest).prefix(16))…) is not the one that was hashed; "
                + "the stored link is the original (the next link still follows from it)"
            if json.count != event.rawSize { reason += "; its length also differs from the recorded raw size \(event.rawSize)" }
            return broken(.payload, reason)
        }
        return broken(.chainLink, "the stored link follows neither from its predecessor and contents nor leads to the next event's link: it was rewritten")
    }
}
