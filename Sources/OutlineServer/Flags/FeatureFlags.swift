import Crypto
import Foundation
import Logging
import PostgresClient
import Synchronization

/// `USE_STREAMING` and the streaming rollout percentage, stored in the database
/// (`Schema/migrations/0010`) so that every instance agrees, with each change
/// recorded with who made it.
///
/// Reads come from a cache refreshed every `refreshInterval` (another
/// instance's flip reaches this one within that time); a change made through
/// this instance applies here at once. A flag with no stored row takes the
/// instance's configured default (the environment).
public final class FeatureFlags: Sendable {
    /// The flags' values at one moment.
    public struct State: Sendable, Equatable, Codable {
        public var useStreaming: Bool
        /// 0–100: the share of workflows, by a stable hash of their id, that stream.
        public var rolloutPercent: Int
        /// False while the streaming migrations are reverted (the schema rollback):
        /// streaming is then off whatever the flags said, and they cannot be set.
        public var streamingSchemaInstalled = true

        public init(useStreaming: Bool, rolloutPercent: Int) {
            self.useStreaming = useStreaming
            self.rolloutPercent = rolloutPercent
        }

        /// Whether a workflow streams: the flag is on and its bucket is inside the rollout.
        public func streams(workflowID: String) -> Bool {
            useStreaming && FeatureFlags.bucket(of: workflowID) < rolloutPercent
        }
    }

    /// One recorded change.
    public struct Change: Sendable, Codable, Equatable {
        public var name: String
        public var oldValue: String?
        public var newValue: String
        public var changedBy: String
        public var reason: String?
        public var changedAt: Date
    }

    let pool: PostgresPool
    let defaults: State
    let refreshInterval: Duration
    private let cache: Mutex<(state: State, fetchedAt: ContinuousClock.Instant?)>

    public init(pool: PostgresPool, defaults: State, refreshInterval: Duration = .seconds(2)) {
        self.pool = pool
        self.defaults = defaults
        self.refreshInterval = refreshInterval
        cache = Mutex((defaults, nil))
    }

    /// A workflow's bucket, 0–99: the first four bytes of SHA-256 of its id. The
    /// same on every instance and every restart, so raising the percentage only
    /// ever adds workflows.
    public static func bucket(of workflowID: String) -> Int {
        let digest = Array(SHA256.hash(data: Data(workflowID.utf8)))
        let value = UInt32(digest[0]) << 24 | UInt32(digest[1]) << 16 | UInt32(digest[2]) << 8 | UInt32(digest[3])
        return Int(value % 100)
    }

    /// The current flags (cached for `refreshInterval`).
    public func current() async throws -> State {
        let cached = cache.withLock { $0 }
        if let fetchedAt = cached.fetchedAt, ContinuousClock.now - fetchedAt < refreshInterval { return cached.state }
        let state = try await load()
        cache.withLock { $0 = (state, ContinuousClock.now) }
        return state
    }

    /// The flags table is gone: `migrate down --scope streaming` reverted it.
    static func isReverted(_ error: any Error) -> Bool { (error as? PostgresError)?.sqlState == "42P01" }

    private func load() async throws -> State {
        var state = defaults
        let rows: PostgresRows
        do {
            rows = try await pool.query("SELECT name, value::text FROM outline_feature_flags")
        } catch where Self.isReverted(error) {
            state.useStreaming = false
            state.streamingSchemaInstalled = false
            return state
        }
        for row in rows {
            let value = try row.decode(String.self, at: 1)
            switch try row.decode(String.self, at: 0) {
            case "use_streaming": state.useStreaming = value == "true"
            case "streaming_rollout_percent": state.rolloutPercent = Int(value).map { min(100, max(0, $0)) } ?? state.rolloutPercent
            default: break
            }
        }
        return state
    }

    /// Sets flags (nil leaves one as it is) and records each actual change with
    /// who made it, in one transaction. Returns the new state.
    @discardableResult
    public func set(useStreaming: Bool?, rolloutPercent: Int?, by user: String, reason: String?) async throws -> State {
        try await apply(useStreaming: useStreaming, rolloutPercent: rolloutPercent, by: user, reason: reason).state
    }

    /// Sets flags as `set` does; also says how many actually changed (0 when
    /// another instance, or a person, had already set them so).
    func apply(useStreaming: Bool?, rolloutPercent: Int?, by user: String, reason: String?) async throws -> (state: State, changed: Int) {
        var updates: [(String, String)] = []
        if let useStreaming { updates.append(("use_streaming", useStreaming ? "true" : "false")) }
        if let rolloutPercent { updates.append(("streaming_rollout_percent", String(rolloutPercent))) }
        let defaults = self.defaults
        let changes = updates
        let changed: Int
        do {
            changed = try await pool.withConnection { connection in
                try await connection.transaction { connection -> Int in
                    var changed = 0
                    // One writer at a time, so the recorded old values are true.
                    _ = try connection.query("LOCK TABLE outline_feature_flags IN SHARE ROW EXCLUSIVE MODE")
                    for (name, value) in changes {
                        let old = try connection.query("SELECT value::text FROM outline_feature_flags WHERE name = $1", name).first?.decode(String.self, at: 0)
                            ?? (name == "use_streaming" ? (defaults.useStreaming ? "true" : "false") : String(defaults.rolloutPercent))
                        guard old != value else { continue }
                        _ = try connection.query(
                            """
                            INSERT INTO outline_feature_flags (name, value, updated_by) VALUES ($1, $2::jsonb, $3)
                            ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now()
                            """,
                            name, value, user
                        )
                        _ = try connection.query(
                            "INSERT INTO outline_feature_flag_changes (name, old_value, new_value, changed_by, reason) VALUES ($1, $2::jsonb, $3::jsonb, $4, $5)",
                            name, old, value, user, reason
                        )
                        changed += 1
                    }
                    return changed
                }
            }
        } catch where Self.isReverted(error) {
            throw FeatureFlagsError.streamingSchemaReverted
        }
        let state = try await load()
        cache.withLock { $0 = (state, ContinuousClock.now) }
        return (state, changed)
    }

    /// When `use_streaming` last changed (by anyone), if ever.
    func lastStreamingChange() async throws -> Date? {
        do {
            return try await pool.query("SELECT max(changed_at) FROM outline_feature_flag_changes WHERE name = 'use_streaming'")[0].decode(Date?.self, at: 0)
        } catch where Self.isReverted(error) {
            return nil
        }
    }

    /// The most recent changes, newest first.
    public func history(limit: Int = 100) async throws -> [Change] {
        do {
            return try await changes(limit: limit)
        } catch where Self.isReverted(error) {
            return []
        }
    }

    private func changes(limit: Int) async throws -> [Change] {
        try await pool.query(
            "SELECT name, old_value::text, new_value::text, changed_by, reason, changed_at FROM outline_feature_flag_changes ORDER BY id DESC LIMIT $1",
            Int64(limit)
        ).map { row in
            Change(name: try row.decode(String.self, at: 0), oldValue: try row.decode(String?.self, at: 1), newValue: try row.decode(String.self, at: 2),
                   changedBy: try row.decode(String.self, at: 3), reason: try row.decode(String?.self, at: 4), changedAt: try row.decode(Date.self, at: 5))
        }
    }
}

public enum FeatureFlagsError: Error, Equatable {
    /// The flags' table was removed by `outline-admin migrate down --scope streaming`.
    case streamingSchemaReverted
}
