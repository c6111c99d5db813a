import Foundation
import PostgresClient

/// Leases on sessions in the database (`Schema/migrations/0008`): who drives a
/// session, renewed by heartbeat, taken over when it expires.
public struct SessionLeases: Sendable {
    public let pool: PostgresPool
    public let owner: String
    public let timeToLive: Duration

    public init(pool: PostgresPool, owner: String, timeToLive: Duration = .seconds(30)) {
        self.pool = pool
        self.owner = owner
        self.timeToLive = timeToLive
    }

    private var ttlMilliseconds: Int64 {
        timeToLive.components.seconds * 1000 + timeToLive.components.attoseconds / 1_000_000_000_000_000
    }

    /// Takes the lease if it is free, expired, or already ours; true when we hold it.
    public func acquire(_ session: UUID) async throws -> Bool {
        let rows = try await pool.query(
            """
            INSERT INTO outline_session_leases (session_id, owner, expires_at)
            VALUES ($1, $2, now() + $3 * interval '1 millisecond')
            ON CONFLICT (session_id) DO UPDATE
               SET owner = EXCLUDED.owner, acquired_at = now(), heartbeat_at = now(), expires_at = EXCLUDED.expires_at
             WHERE outline_session_leases.expires_at < now() OR outline_session_leases.owner = EXCLUDED.owner
            RETURNING owner
            """,
            session, owner, ttlMilliseconds
        )
        return !rows.isEmpty
    }

    /// Extends the lease; false when it is no longer ours (another runner took it).
    public func renew(_ session: UUID) async throws -> Bool {
        try await pool.query(
            "UPDATE outline_session_leases SET heartbeat_at = now(), expires_at = now() + $3 * interval '1 millisecond' WHERE session_id = $1 AND owner = $2",
            session, owner, ttlMilliseconds
        ).rowsAffected == 1
    }

    /// Lets go of every lease this owner holds (graceful shutdown): other
    /// runners adopt those sessions at once instead of after expiry.
    public func releaseAll() async throws {
        try await pool.query("DELETE FROM outline_session_leases WHERE owner = $1", owner)
    }

    public func release(_ session: UUID) async throws {
        try await pool.query("DELETE FROM outline_session_leases WHERE session_id = $1 AND owner = $2", session, owner)
    }

    /// Sessions still researching whose lease is missing or expired, with what a
    /// runner needs to continue them. Read from the `outline_sessions` read model.
    public func adoptable(limit: Int = 100) async throws -> [(session: UUID, mode: String, instructions: String)] {
        try await pool.query(
            """
            SELECT s.id, s.mode, coalesce(s.research_instructions, s.outline_prompt)
              FROM outline_sessions s
              LEFT JOIN outline_session_leases l ON l.session_id = s.id
             WHERE s.is_active AND s.status = 'researching' AND (l.session_id IS NULL OR l.expires_at < now())
             ORDER BY s.updated_at
             LIMIT $1
            """,
            Int64(limit)
        ).map { (try $0.decode(UUID.self, at: 0), try $0.decode(String.self, at: 1), try $0.decode(String.self, at: 2)) }
    }

    /// Sessions stuck before research: no questions asked yet, or answers given
    /// but no instructions written, with no live lease and no change for
    /// `quietFor` (their instance died mid-preparation). Read from the read model.
    public func stalledPreparations(quietFor: Duration, limit: Int = 100) async throws -> [UUID] {
        let milliseconds = quietFor.components.seconds * 1000 + quietFor.components.attoseconds / 1_000_000_000_000_000
        return try await pool.query(
            """
            SELECT s.id FROM outline_sessions s
              LEFT JOIN outline_session_leases l ON l.session_id = s.id
             WHERE s.is_active AND s.status IN ('pending', 'clarified')
               AND s.updated_at < now() - $1 * interval '1 millisecond'
               AND (l.session_id IS NULL OR l.expires_at < now())
             ORDER BY s.updated_at
             LIMIT $2
            """,
            milliseconds, Int64(limit)
        ).map { try $0.decode(UUID.self, at: 0) }
    }
}
