import Foundation
import Logging
import PostgresClient

/// Applies and reverts the numbered migrations and says whether the database
/// matches this build.
///
/// Each migration runs in its own transaction under an advisory lock, so two
/// processes migrating at once apply each version once, and a failing migration
/// leaves nothing half done. Applied versions are recorded with their checksums.
public struct Migrator: Sendable {
    public let pool: PostgresPool
    public let migrations: [Migration]
    private let logger: Logger

    /// An arbitrary constant shared by every OutlineStream process.
    static let advisoryLockKey: Int64 = 0x4F75_746C_696E_6553 // "OutlineS"

    public init(pool: PostgresPool, migrations: [Migration], logger: Logger = Logger(label: "outlinestream.migrator")) {
        self.pool = pool
        self.migrations = migrations
        self.logger = logger
    }

    public struct AppliedMigration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var checksum: String
        public var appliedAt: Date
    }

    public struct Status: Sendable {
        public struct Entry: Sendable {
            public var version: Int
            public var name: String
            public var checksum: String
            public var appliedAt: Date?
            /// nil when not applied; false when the file changed after it was applied.
            public var checksumMatches: Bool?
            public var scope: Migration.Scope
        }
        public var entries: [Entry]
        /// Versions applied in the database that this build has no file for.
        public var unknownApplied: [AppliedMigration]
        public var pending: [Int] { entries.filter { $0.appliedAt == nil }.map(\.version) }
        /// Pending migrations of `scope`.
        public func pending(_ scope: Migration.Scope) -> [Int] { entries.filter { $0.appliedAt == nil && $0.scope == scope }.map(\.version) }
    }

    private func ensureBookkeeping(_ connection: PostgresConnection) async throws {
        try await connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
    }

    private func applied(_ connection: PostgresConnection) async throws -> [AppliedMigration] {
        try await connection.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version").map {
            AppliedMigration(version: try $0.decode(Int.self, at: 0), name: try $0.decode(String.self, at: 1),
                             checksum: try $0.decode(String.self, at: 2), appliedAt: try $0.decode(Date.self, at: 3))
        }
    }

    public func status() async throws -> Status {
        try await pool.withConnection { connection in
            try await ensureBookkeeping(connection)
            let done = try await applied(connection)
            let byVersion = Dictionary(uniqueKeysWithValues: done.map { ($0.version, $0) })
            let known = Set(migrations.map(\.version))
            return Status(
                entries: migrations.map { migration in
                    let record = byVersion[migration.version]
                    return Status.Entry(version: migration.version, name: migration.name, checksum: migration.checksum,
                                        appliedAt: record?.appliedAt, checksumMatches: record.map { $0.checksum == migration.checksum },
                                        scope: migration.scope)
                },
                unknownApplied: done.filter { !known.contains($0.version) }
            )
        }
    }

    /// Applies every pending migration in order; returns the versions applied.
    @discardableResult
    public func up() async throws -> [Int] {
        var appliedNow: [Int] = []
        for migration in migrations {
            let ran: Bool = try await pool.withTransaction { connection in
                try await connection.query("SELECT pg_advisory_xact_lock($1)", Self.advisoryLockKey)
                try await ensureBookkeeping(connection)
                let done = try await applied(connection)
                try verify(done)
                if done.contains(where: { $0.version == migration.version }) { return false }
                try await connection.execute(migration.up)
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    Int32(migration.version), migration.name, migration.checksum
                )
                return true
            }
            if ran {
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                appliedNow.append(migration.version)
            }
        }
        return appliedNow
    }

    /// Reverts the last `count` applied migrations, newest first; returns their versions.
    @discardableResult
    public func down(count: Int = 1) async throws -> [Int] {
        var reverted: [Int] = []
        for _ in 0..<count {
            let version: Int? = try await pool.withTransaction { connection in
                try await connection.query("SELECT pg_advisory_xact_lock($1)", Self.advisoryLockKey)
                try await ensureBookkeeping(connection)
                let done = try await applied(connection)
                guard let last = done.last else { return nil }
                guard let migration = migrations.first(where: { $0.version == last.version }) else {
                    throw MigrationError.appliedButUnknown(version: last.version, name: last.name)
                }
                try await connection.execute(migration.down)
                try await connection.query("DELETE FROM schema_migrations WHERE version = $1", Int32(migration.version))
                return migration.version
            }
            guard let version else {
                if reverted.isEmpty { throw MigrationError.nothingToRevert }
                break
            }
            logger.info("reverted migration", metadata: ["version": "\(version)"])
            reverted.append(version)
        }
        return reverted
    }

    /// Reverts every applied migration of `scope`, newest first, each in its own
    /// transaction, leaving the others applied. `migrate up` applies them again.
    @discardableResult
    public func down(scope: Migration.Scope) async throws -> [Int] {
        var reverted: [Int] = []
        for migration in migrations.reversed() where migration.scope == scope {
            let ran: Bool = try await pool.withTransaction { connection in
                try await connection.query("SELECT pg_advisory_xact_lock($1)", Self.advisoryLockKey)
                try await ensureBookkeeping(connection)
                let done = try await applied(connection)
                try verify(done)
                guard done.contains(where: { $0.version == migration.version }) else { return false }
                try await connection.execute(migration.down)
                try await connection.query("DELETE FROM schema_migrations WHERE version = $1", Int32(migration.version))
                return true
            }
            if ran {
                logger.info("reverted migration", metadata: ["version": "\(migration.version)", "scope": "\(scope.rawValue)"])
                reverted.append(migration.version)
            }
        }
        return reverted
    }

    private func verify(_ done: [AppliedMigration]) throws {
        for record in done {
            guard let migration = migrations.first(where: { $0.version == record.version }) else {
                throw MigrationError.appliedButUnknown(version: record.version, name: record.name)
            }
            if migration.checksum != record.checksum {
                throw MigrationError.checksumMismatch(version: record.version, name: record.name)
            }
        }
    }

    /// What a server may run on: throws like `requireCurrent` when a core
    /// migration is pending, and returns the pending streaming migrations (empty:
    /// the full service; otherwise they were reverted and only V2 runs).
    public func requireServable() async throws -> [Int] {
        do {
            try await requireCurrent()
            return []
        } catch MigrationError.schemaBehind(let pending) {
            let status = try await status()
            guard status.pending(.core).isEmpty else { throw MigrationError.schemaBehind(pending: pending) }
            return status.pending(.streaming)
        }
    }

    /// Throws `schemaBehind` (or a checksum error) unless every migration is applied unchanged.
    public func requireCurrent() async throws {
        let status = try await status()
        if let changed = status.entries.first(where: { $0.checksumMatches == false }) {
            throw MigrationError.checksumMismatch(version: changed.version, name: changed.name)
        }
        if let unknown = status.unknownApplied.first {
            throw MigrationError.appliedButUnknown(version: unknown.version, name: unknown.name)
        }
        if !status.pending.isEmpty { throw MigrationError.schemaBehind(pending: status.pending) }
    }
}
