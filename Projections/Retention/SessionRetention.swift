import EventLog
import Foundation
import Logging
import PostgresClient

/// How long finished sessions are kept, and their removal when that passes.
///
/// A policy is global or for one workflow (in its owner's namespace; the
/// workflow's wins). An expired session leaves by the log's audited path: it
/// is compacted if it is not yet, then in one transaction its audit record is
/// written (what it held: events, segments and their digests, the policy), its
/// segments are deleted under that record (or its pack rewritten without it),
/// it is entered in
/// `outline_removed_sessions` (the read model of what was removed, when, why),
/// and its read-model rows go. Its hot rows, hidden since compaction, leave
/// with their partition. Readers then answer that the session was removed.
public struct SessionRetention: Sendable {
    public struct Policy: Sendable, Equatable {
        /// nil: the global policy.
        public var workflow: (owner: String, id: String)?
        public var keepDays: Int
        public var setBy: String
        public var setAt: Date

        public static func == (a: Policy, b: Policy) -> Bool {
            a.workflow?.owner == b.workflow?.owner && a.workflow?.id == b.workflow?.id && a.keepDays == b.keepDays && a.setBy == b.setBy && a.setAt == b.setAt
        }
    }

    public struct Expired: Sendable, Equatable {
        public var session: UUID
        public var workflowOwner: String
        public var workflowID: String
        public var lastEventAt: Date
        public var keepDays: Int
    }

    public struct Removed: Sendable, Codable, Equatable {
        public struct Segment: Sendable, Codable, Equatable {
            public var firstSequence: Int32
            public var lastSequence: Int32
            public var digest: String
        }
        public var session: String
        public var workflowOwner: String
        public var workflowId: String
        public var events: Int
        public var lastEventAt: String
        public var keepDays: Int
        public var segments: [Segment]
    }

    public enum Outcome: Sendable, Equatable {
        case removed(auditSequence: Int64)
        case alreadyRemoved
        /// Its chain does not verify: it is kept (for an audit) and named.
        case keptUnverified(String)
        case notFinished
    }

    public let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "outlinestream.retention")) {
        self.pool = pool
        self.logger = logger
    }

    /// Sets (or replaces) the global policy, or one workflow's.
    public func setPolicy(keepDays: Int, workflow: (owner: String, id: String)? = nil, by actor: String) async throws {
        try await pool.query(
            """
            INSERT INTO outline_retention_policies (workflow_owner, workflow_id, keep_days, set_by) VALUES ($1, $2, $3, $4)
            ON CONFLICT (coalesce(workflow_owner, ''), coalesce(workflow_id, '')) DO UPDATE SET keep_days = EXCLUDED.keep_days, set_by = EXCLUDED.set_by, set_at = now()
            """,
            workflow?.owner, workflow?.id, Int32(keepDays), actor
        )
    }

    /// Removes a policy; returns whether there was one.
    @discardableResult
    public func clearPolicy(workflow: (owner: String, id: String)? = nil) async throws -> Bool {
        try await pool.query(
            "DELETE FROM outline_retention_policies WHERE workflow_owner IS NOT DISTINCT FROM $1 AND workflow_id IS NOT DISTINCT FROM $2",
            workflow?.owner, workflow?.id
        ).rowsAffected > 0
    }

    public func policies() async throws -> [Policy] {
        try await pool.query("SELECT workflow_owner, workflow_id, keep_days, set_by, set_at FROM outline_retention_policies ORDER BY workflow_owner NULLS FIRST, workflow_id").map {
            let owner = try $0.decode(String?.self, at: 0), id = try $0.decode(String?.self, at: 1)
            return Policy(workflow: owner.flatMap { o in id.map { (o, $0) } }, keepDays: Int(try $0.decode(Int32.self, at: 2)),
                          setBy: try $0.decode(String.self, at: 3), setAt: try $0.decode(Date.self, at: 4))
        }
    }

    /// Finished sessions whose last event is older than their policy allows at `now`.
    public func expired(asOf now: Date = Date(), limit: Int = 1000) async throws -> [Expired] {
        try await pool.query(
            """
            SELECT r.id, r.workflow_owner, r.workflow_id, r.last_event_at, p.keep_days
              FROM outline_session_rows r
              JOIN LATERAL (SELECT keep_days FROM outline_retention_policies p
                             WHERE (p.workflow_owner = r.workflow_owner AND p.workflow_id = r.workflow_id) OR p.workflow_owner IS NULL
                             ORDER BY p.workflow_owner IS NULL LIMIT 1) p ON true
             WHERE NOT r.is_active AND r.status IN ('completed', 'failed', 'cancelled')
               AND r.last_event_at < $1 - p.keep_days * interval '1 day'
               AND NOT EXISTS (SELECT 1 FROM outline_removed_sessions x WHERE x.session_id = r.id)
             ORDER BY r.last_event_at LIMIT $2
            """,
            now, Int64(max(0, limit))
        ).map {
            Expired(session: try $0.decode(UUID.self, at: 0), workflowOwner: try $0.decode(String.self, at: 1), workflowID: try $0.decode(String.self, at: 2),
                    lastEventAt: try $0.decode(Date.self, at: 3), keepDays: Int(try $0.decode(Int32.self, at: 4)))
        }
    }

    /// Removes every expired session; returns what happened to each.
    public func apply(asOf now: Date = Date(), actor: String, limit: Int = 1000) async throws -> [(Expired, Outcome)] {
        var outcomes: [(Expired, Outcome)] = []
        for session in try await expired(asOf: now, limit: limit) {
            if Task.isCancelled { break }
            outcomes.append((session, try await remove(session, actor: actor)))
        }
        return outcomes
    }

    /// Removes one expired session by the audited path.
    public func remove(_ expired: Expired, actor: String) async throws -> Outcome {
        switch try await Compactor(pool: pool, logger: logger).compact(session: expired.session) {
        case .compacted, .alreadyCompacted: break
        case .notFinished: return .notFinished
        case .chainBroken(let why): return .keptUnverified(why)
        }
        let reason = "retention: \(expired.workflowOwner)/\(expired.workflowID) keeps finished sessions \(expired.keepDays) day(s)"
        let outcome = try await pool.withConnection { connection in
            try await connection.transaction { connection -> Outcome in
                let session = expired.session
                _ = try connection.query("SELECT 1 FROM outline_event_streams WHERE session_id = $1 FOR UPDATE", session)
                if try connection.query("SELECT 1 FROM outline_removed_sessions WHERE session_id = $1", session).count > 0 { return .alreadyRemoved }
                let segments = try connection.query(
                    "SELECT first_sequence, last_sequence, digest, event_count FROM outline_event_segments WHERE session_id = $1 ORDER BY first_sequence", session)
                var events = 0
                var held: [Removed.Segment] = []
                for row in segments {
                    events += Int(try row.decode(Int32.self, at: 3))
                    held.append(.init(firstSequence: try row.decode(Int32.self, at: 0), lastSequence: try row.decode(Int32.self, at: 1),
                                      digest: Hex.encode(try row.decode(PostgresBytes.self, at: 2).bytes)))
                }
                // A small session's events are its part of a pack (rewritten without it); the record names the pack as it was.
                let packed = held.isEmpty ? try EventStore.lockedPack(of: session, on: connection) : nil
                if let packed, let part = packed.pack.segment(of: session) {
                    events = part.events.count
                    held.append(.init(firstSequence: part.firstSequence, lastSequence: part.lastSequence, digest: Hex.encode(packed.digest)))
                }
                let record = Removed(session: session.uuidString.lowercased(), workflowOwner: expired.workflowOwner, workflowId: expired.workflowID,
                                     events: events, lastEventAt: TimestampText.format(expired.lastEventAt), keepDays: expired.keepDays, segments: held)
                let audit = try LogAudit.append(.retentionExpired, actor: actor, reason: reason, details: record, on: connection)
                // The segments' guard lets this statement through: it names the record just written.
                try connection.query("SELECT set_config('outline.audited_change', $1, true)", String(audit))
                try connection.query("DELETE FROM outline_event_segments WHERE session_id = $1", session)
                if let packed { try EventStore.remove(session, from: packed, on: connection) }
                try connection.query("SELECT set_config('outline.audited_change', '', true)")
                try connection.query(
                    """
                    INSERT INTO outline_removed_sessions (session_id, workflow_owner, workflow_id, events, last_event_at, reason, audit_sequence)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    session, expired.workflowOwner, expired.workflowID, Int32(events), expired.lastEventAt, reason, audit
                )
                // The read models: what a rebuild from the log would now give (no row).
                try connection.query("DELETE FROM outline_session_text WHERE session_id = $1", session)
                try connection.query("DELETE FROM outline_session_rows WHERE id = $1", session)
                try connection.query("DELETE FROM outline_session_activity WHERE session_id = $1", session)
                return .removed(auditSequence: audit)
            }
        }
        if case .removed(let audit) = outcome {
            logger.info("removed a session by retention", metadata: ["session": "\(expired.session)", "audit": "\(audit)", "reason": "\(reason)"])
        }
        return outcome
    }

    /// The removal record of a session, if it was removed.
    public static func removal(of session: UUID, pool: PostgresPool) async throws -> (workflowOwner: String, removedAt: Date, reason: String, audit: Int64)? {
        try await pool.query(
            "SELECT workflow_owner, removed_at, reason, audit_sequence FROM outline_removed_sessions WHERE session_id = $1", session
        ).first.map { (try $0.decode(String.self, at: 0), try $0.decode(Date.self, at: 1), try $0.decode(String.self, at: 2), try $0.decode(Int64.self, at: 3)) }
    }
}
