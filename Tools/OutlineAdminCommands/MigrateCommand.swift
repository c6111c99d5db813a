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
        static let configuration = CommandConfiguration(abstract: "Revert the last applied migrations with their down files.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "how many migrations to revert") var count: Int = 1

        func validate() throws {
            guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        }

        func run() async throws {
            try await database.withPool { pool in
                let reverted = try await Migrator(pool: pool, migrations: try database.migrations(), logger: AdminLogging.logger).down(count: count)
                print("reverted: \(reverted.map(String.init).joined(separator: ", "))")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List migrations: applied (when, checksum) or pending.")
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
                    print("\(Self.padded(entry.version, entry.name))  \(entry.checksum.prefix(12))  \(state)")
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
                print("healthy: all migrations applied unchanged; append-only triggers, key indexes and the append function are in place")
            } else {
                for problem in health.problems { print("unhealthy: \(problem)") }
                throw ExitCode(1)
            }
        }
    }
}
