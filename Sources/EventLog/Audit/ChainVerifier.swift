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
        public var sessionID: UUID
        public var sequence: Int32
        public var position: Int64?
        public var reason: String
        public var description: String {
            "session \(sessionID.uuidString.lowercased()) event \(sequence)\(position.map { " (position \($0))" } ?? ""): \(reason)"
        }
    }

    public struct Report: Sendable {
        public var sessions = 0
        public var events: Int64 = 0
        public var storedBytes: Int64 = 0
        public var rawBytes: Int64 = 0
        public var breaks: [Break] = []
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

    /// Verifies every session in the log.
    public func verifyAll() async throws -> Report {
        var report = Report()
        let sessions = try await pool.query("SELECT session_id FROM outline_event_streams ORDER BY session_id").map { try $0.decode(UUID.self, at: 0) }
        for session in sessions {
            report.sessions += 1
            if let failure = try await walk(session: session, report: &report) { report.breaks.append(failure) }
        }
        return report
    }

    private func walk(session: UUID, report: inout Report) async throws -> Break? {
        var link = ChainLink.genesis
        var expected: Int32 = 1
        while true {
            let rows = try await pool.query(
                """
                SELECT position, sequence, event_type, codec, payload, raw_size, chain_link FROM outline_events
                 WHERE session_id = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3
                """,
                session, expected, Int64(pageSize)
            )
            for row in rows {
                let position = try row.decode(Int64.self, at: 0)
                let sequence = try row.decode(Int32.self, at: 1)
                let eventType = try row.decode(String.self, at: 2)
                let codecValue = try row.decode(Int16.self, at: 3)
                let stored = try row.decode(PostgresBytes.self, at: 4).bytes
                let rawSize = try row.decode(Int.self, at: 5)
                let storedLink = try row.decode(PostgresBytes.self, at: 6).bytes
                report.events += 1
                report.storedBytes += Int64(stored.count)
                report.rawBytes += Int64(rawSize)
                guard sequence == expected else {
                    return Break(sessionID: session, sequence: expected, position: nil, reason: "missing: the next stored event is \(sequence)")
                }
                guard let codec = PayloadCodec(rawValue: codecValue) else {
                    return Break(sessionID: session, sequence: sequence, position: position, reason: "unknown codec \(codecValue)")
                }
                let json: [UInt8]
                do {
                    json = try codec.decode(stored, rawSize: rawSize)
                } catch {
                    return Break(sessionID: session, sequence: sequence, position: position, reason: "payload cannot be decoded: \(error)")
                }
                link = ChainLink.next(previous: link, sequence: sequence, eventType: eventType, json: json)
                guard link == storedLink else {
                    return Break(sessionID: session, sequence: sequence, position: position,
                                 reason: "hash chain broken: the stored link does not match its type, sequence, payload and predecessor")
                }
                expected += 1
            }
            if rows.count < pageSize { break }
        }
        let head = try await pool.query("SELECT head_sequence, head_link FROM outline_event_streams WHERE session_id = $1", session)
        if let row = head.first {
            let headSequence = try row.decode(Int32.self, at: 0)
            let headLink = try row.decode(PostgresBytes.self, at: 1).bytes
            if headSequence != expected - 1 {
                return Break(sessionID: session, sequence: expected, position: nil,
                             reason: "the stream head says \(headSequence) events, the log holds \(expected - 1)")
            }
            if headLink != link {
                return Break(sessionID: session, sequence: headSequence, position: nil, reason: "the stream head's link does not match the last event's")
            }
        }
        return nil
    }
}
