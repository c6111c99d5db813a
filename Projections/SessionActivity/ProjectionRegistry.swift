import Foundation
import PostgresClient

/// One asynchronous read model's row in `outline_projections` (migration 0012):
/// which version is live, in which table, and how far into the log it is.
public struct ProjectionState: Sendable, Equatable {
    public var name: String
    public var version: Int
    public var tableName: String
    public var checkpoint: Int64
    public var updatedAt: Date
}

/// Reads and locks `outline_projections` rows. Holding a row's lock is what
/// serializes the projector's batches with a rebuild's swap.
public enum ProjectionRegistry {
    static let columns = "name, version, table_name, checkpoint, updated_at"

    static func decode(_ row: PostgresRow) throws -> ProjectionState {
        ProjectionState(name: try row.decode(String.self, at: 0), version: try row.decode(Int.self, at: 1),
                        tableName: try row.decode(String.self, at: 2), checkpoint: try row.decode(Int64.self, at: 3),
                        updatedAt: try row.decode(Date.self, at: 4))
    }

    /// The row of `name`, locked until the transaction ends; nil when it does not
    /// exist or, with `skipLocked`, when someone else holds it.
    static func lock(_ name: String, skipLocked: Bool, on connection: isolated PostgresConnection) throws -> ProjectionState? {
        let rows = try connection.query("SELECT \(columns) FROM outline_projections WHERE name = $1 FOR UPDATE\(skipLocked ? " SKIP LOCKED" : "")", name)
        return try rows.first.map(decode)
    }

    static func setCheckpoint(_ name: String, to position: Int64, on connection: isolated PostgresConnection) throws {
        try connection.query("UPDATE outline_projections SET checkpoint = $2, updated_at = now() WHERE name = $1", name, position)
    }

    /// Every asynchronous projection with its lag behind the log head.
    public static func states(_ pool: PostgresPool) async throws -> [(state: ProjectionState, lag: Int64)] {
        try await pool.query(
            "SELECT \(columns), (SELECT last_position FROM outline_log_head) - checkpoint FROM outline_projections ORDER BY name"
        ).map { (try decode($0), try $0.decode(Int64.self, at: 5)) }
    }
}
