import EventLog
import Foundation
import PostgresClient
import Testing
import TestSupport

@Suite("Migrations")
struct MigratorTests {
    @Test("migrations go up, all the way down, and up again; health follows")
    func upDownUp() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            let migrations = try TestDatabase.migrations()
            let migrator = Migrator(pool: pool, migrations: migrations, logger: TestDatabase.quietLogger)
            #expect(try await migrator.status().pending == migrations.map(\.version))
            #expect(!(try await SchemaHealth.check(migrator).isHealthy))
            await #expect(throws: MigrationError.schemaBehind(pending: migrations.map(\.version))) { try await migrator.requireCurrent() }

            #expect(try await migrator.up() == migrations.map(\.version))
            #expect(try await migrator.up() == [])
            let health = try await SchemaHealth.check(migrator)
            #expect(health.isHealthy, "\(health.problems)")
            try await migrator.requireCurrent()

            #expect(try await migrator.down(count: migrations.count) == migrations.map(\.version).reversed())
            let leftovers = try await pool.query(
                "SELECT count(*) FROM pg_class WHERE relname LIKE 'outline%' AND relnamespace = current_schema()::regnamespace"
            )[0].decode(Int64.self, at: 0)
            #expect(leftovers == 0)
            await #expect(throws: MigrationError.nothingToRevert) { try await migrator.down() }

            #expect(try await migrator.up() == migrations.map(\.version))
            #expect(try await SchemaHealth.check(migrator).isHealthy)
        }
    }

    @Test("an applied migration whose file changed is refused")
    func checksumMismatch() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            var migrations = try TestDatabase.migrations()
            try await Migrator(pool: pool, migrations: migrations, logger: TestDatabase.quietLogger).up()
            migrations[0].up += "\n-- edited after the fact\n"
            let edited = Migrator(pool: pool, migrations: migrations, logger: TestDatabase.quietLogger)
            await #expect(throws: MigrationError.checksumMismatch(version: migrations[0].version, name: migrations[0].name)) {
                try await edited.up()
            }
            #expect(try await edited.status().entries[0].checksumMatches == false)
            #expect(!(try await SchemaHealth.check(edited).isHealthy))
        }
    }

    @Test("a failing migration leaves nothing behind")
    func failingMigrationRollsBack() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            let broken = Migration(version: 1, name: "broken", up: "CREATE TABLE half_done (id int); SELECT 1/0;", down: "DROP TABLE half_done;")
            let migrator = Migrator(pool: pool, migrations: [broken], logger: TestDatabase.quietLogger)
            await #expect(throws: PostgresError.self) { try await migrator.up() }
            let absent = try await pool.query("SELECT to_regclass('half_done') IS NULL")[0].decode(Bool.self, at: 0)
            #expect(absent)
            let pending = try await migrator.status().pending
            #expect(pending == [1])
        }
    }

    @Test("0014 puts existing sessions in their requester's namespace, and its down refuses while two users share an id")
    func workflowNamespaces() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            let migrations = try TestDatabase.migrations()
            try await Migrator(pool: pool, migrations: migrations.filter { $0.version < 14 }, logger: TestDatabase.quietLogger).up()
            try await pool.query("INSERT INTO outline_workflows (workflow_id, owner_id) VALUES ('wf-old', 'alice')")
            try await pool.query(
                """
                INSERT INTO outline_session_rows (id, workflow_id, status, outline_prompt, is_active, started_at, created_at, updated_at,
                                                  mode, requested_by, last_event_sequence, progress_phase, last_event_at)
                VALUES (gen_random_uuid(), 'wf-old', 'completed', 'p', false, now(), now(), now(), 'streaming', 'alice', 9, 'done', now())
                """
            )
            let migrator = Migrator(pool: pool, migrations: migrations, logger: TestDatabase.quietLogger)
            #expect(try await migrator.up() == migrations.map(\.version).filter { $0 >= 14 })
            #expect(try await pool.query("SELECT workflow_owner FROM outline_sessions WHERE workflow_id = 'wf-old'")[0].decode(String.self, at: 0) == "alice")
            // Bob's "wf-old" is another workflow now; going back would merge the two.
            try await pool.query("INSERT INTO outline_workflows (workflow_id, owner_id) VALUES ('wf-old', 'bob')")
            let top = migrations.map(\.version).max()!
            while try await migrator.status().entries.last(where: { $0.appliedAt != nil })?.version ?? 0 > 14 { _ = try await migrator.down() }
            await #expect(throws: PostgresError.self) { try await migrator.down() }
            #expect(try await migrator.status().entries.first { $0.version == 14 }?.appliedAt != nil)
            try await pool.query("DELETE FROM outline_workflows WHERE owner_id = 'bob'")
            #expect(try await migrator.down() == [14])
            #expect(try await pool.query("SELECT count(*) FROM outline_sessions WHERE workflow_id = 'wf-old'")[0].decode(Int64.self, at: 0) == 1)
            #expect(try await migrator.up().max() == top)
        }
    }

    @Test("health reports a disabled append-only trigger")
    func healthSeesDisabledTrigger() async throws {
        try await TestDatabase.withDatabase { pool, _ in
            let migrator = Migrator(pool: pool, migrations: try TestDatabase.migrations(), logger: TestDatabase.quietLogger)
            try await pool.query("ALTER TABLE outline_events DISABLE TRIGGER outline_events_no_truncate")
            let health = try await SchemaHealth.check(migrator)
            #expect(health.problems.contains { $0.contains("outline_events_no_truncate") })
        }
    }

    @Test("migration files must come in named up/down pairs")
    func loaderRejectsBadFolders() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "SELECT 1;".write(to: folder.appendingPathComponent("0001_a.up.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.missingDown("0001_a.up.sql")) { try Migration.load(from: folder) }
        try "SELECT 1;".write(to: folder.appendingPathComponent("0001_a.down.sql"), atomically: true, encoding: .utf8)
        #expect(try Migration.load(from: folder).map(\.version) == [1])
        try "x".write(to: folder.appendingPathComponent("notes.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.badFileName("notes.sql")) { try Migration.load(from: folder) }
    }
}
