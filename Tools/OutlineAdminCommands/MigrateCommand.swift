import ArgumentParser
import EventLog
import Foundation

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply, revert or inspect the schema migrations.",
        subcommands: [Up.self, Down.self, Status.self, Health.self]
    )

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply every pending migration, each in its own transaction.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await database.withPool { pool in
                let applied = try await Migrator(pool: pool, migrations: try database.migrations(), logger: AdminLogging.logger).up()
                print(applied.isEmpty ? "schema is current: nothing to apply" : "applied: \(applied.map(String.init).joined(separator: ", "))")
            }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revert the last applied migrations, or every migration of one scope, with their down files.",
            discussion: """
                --scope streaming reverts only the streaming migrations (newest first), whatever was applied after \
                them: the schema side of the product's rollback. The service keeps serving the V2 polling API \
                (start-v2, status, cancel, latest); V3 start answers 409 naming start-v2 until `migrate up`.
                """
        )
        @OptionGroup var database: DatabaseOptions
        @Option(help: "how many migrations to revert") var count: Int?
        @Option(help: "revert every applied migration of this scope instead: streaming") var scope: String?

        func validate() throws {
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
            if count != nil && scope != nil { throw ValidationError("--count and --scope exclude each other") }
            if let scope, Migration.Scope(rawValue: scope) == nil { throw ValidationError(MigrationError.unknownScope(scope).description) }
        }

        func run() async throws {
            try await database.withPool { pool in
                let migrator = Migrator(pool: pool, migrations: try database.migrations(), logger: AdminLogging.logger)
                if let scope = scope.flatMap(Migration.Scope.init(rawValue:)) {
                    let reverted = try await migrator.down(scope: scope)
                    print(reverted.isEmpty ? "no \(scope.rawValue) migration is applied: nothing to revert"
                                           : "reverted (\(scope.rawValue)): \(reverted.map(String.init).joined(separator: ", "))")
                    if scope == .streaming && !reverted.isEmpty {
                        print("the service now serves V2 polling only; `outline-admin migrate up` brings streaming back")
                    }
                } else {
                    let reverted = try await migrator.down(count: count ?? 1)
                    print("reverted: \(reverted.map(String.init).joined(separator: ", "))")
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List migrations: version, name, scope, checksum (first 12 hex digits of the up file's SHA-256), applied when or pending.",
            discussion: "CHANGED SINCE: the file differs from what was applied; the server refuses to start until it is restored."
        )
        @OptionGroup var database: DatabaseOptions

        static func padded(_ version: Int, _ name: String) -> String {
            let number = String(version)
            return String(repeating: "0", count: max(0, 4 - number.count)) + number + "  " + name.padding(toLength: 36, withPad: " ", startingAt: 0)
        }

        func run() async throws {
            try await database.withPool { pool in
                let status = try await Migrator(pool: pool, migrations: try database.migrations(), logger: AdminLogging.logger).status()
                for entry in status.entries {
                    let state: String
                    switch (entry.appliedAt, entry.checksumMatches) {
                    case (nil, _): state = "pending"
                    case (let at?, false?): state = "applied \(at) CHANGED SINCE"
                    case (let at?, _): state = "applied \(at)"
                    }
                    print("\(Self.padded(entry.version, entry.name))  \(entry.scope.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  \(entry.checksum.prefix(12))  \(state)")
                }
                for unknown in status.unknownApplied {
                    print("\(Self.padded(unknown.version, unknown.name))  applied, unknown to this build")
                }
            }
        }
    }

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check migrations and the objects the invariants rest on; exit 1 when unhealthy.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let health = try await database.withPool { pool in
                try await SchemaHealth.check(Migrator(pool: pool, migrations: try database.migrations(), logger: AdminLogging.logger))
            }
            if health.isHealthy {
                if !health.streamingReverted.isEmpty {
                    print("note: streaming migrations \(health.streamingReverted.map(String.init).joined(separator: ", ")) are reverted: the service serves V2 polling only")
                }
                print("healthy: all \(health.streamingReverted.isEmpty ? "" : "core ")migrations applied unchanged; append-only triggers, key indexes and the append function are in place")
            } else {
                for problem in health.problems { print("unhealthy: \(problem)") }
                throw ExitCode(1)
            }
        }
    }
}
