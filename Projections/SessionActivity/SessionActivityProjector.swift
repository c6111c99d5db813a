import EventLog
import Foundation
import Logging
import PostgresClient

/// Keeps the live `session_activity` table current by folding the log after its
/// checkpoint, one transaction per batch (rows and checkpoint move together, so
/// a crash neither loses nor doubles an event).
///
/// Every instance runs one; the registry row's lock (taken with SKIP LOCKED)
/// lets one of them fold at a time and lets a rebuild's swap wait for nobody.
/// Version and table are re-read in every batch, so a swap takes effect at once.
public struct SessionActivityProjector: Sendable {
    public static let name = "session_activity"

    public enum Outcome: Sendable, Equatable {
        case folded(Int64)
        case caughtUp
        /// Another instance or a rebuild holds the registry row.
        case busy
        /// The live version is newer than this build knows (a newer build rebuilt it).
        case unknownVersion(Int)
        /// Migration 0012 is not applied.
        case notInstalled
    }

    public let pool: PostgresPool
    public var batchSize = 20_000
    public var idleInterval: Duration = .milliseconds(250)
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "outlinestream.projector")) {
        self.pool = pool
        self.logger = logger
    }

    /// Folds one batch.
    public func step() async throws -> Outcome {
        let batchSize = batchSize
        return try await pool.withConnection { connection in
            try await connection.run { connection in
                try connection.execute("BEGIN")
                do {
                    let outcome = try Self.fold(batchSize: batchSize, on: connection)
                    try connection.execute("COMMIT")
                    return outcome
                } catch {
                    try? connection.execute("ROLLBACK")
                    throw error
                }
            }
        }
    }

    private static func fold(batchSize: Int, on connection: isolated PostgresConnection) throws -> Outcome {
        guard try !connection.query("SELECT 1 FROM pg_tables WHERE tablename = 'outline_projections' AND schemaname = current_schema()").isEmpty else {
            return .notInstalled
        }
        guard let state = try ProjectionRegistry.lock(name, skipLocked: true, on: connection) else { return .busy }
        guard let version = SessionActivityVersion.number(state.version) else { return .unknownVersion(state.version) }
        let tally = try SessionActivityTally.read(after: state.checkpoint, limit: batchSize, on: connection)
        guard tally.events > 0 else { return .caughtUp }
        try tally.write(into: state.tableName, version: version, on: connection)
        try ProjectionRegistry.setCheckpoint(name, to: tally.lastPosition, on: connection)
        return .folded(tally.events)
    }

    /// Folds until the checkpoint reaches the log head as it was when called
    /// (waiting while someone else holds the row).
    public func catchUp() async throws {
        let head = try await pool.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
        while true {
            switch try await step() {
            case .folded: continue
            case .busy: try await Task.sleep(for: .milliseconds(20))
            case .caughtUp:
                let checkpoint = try await pool.query("SELECT checkpoint FROM outline_projections WHERE name = $1", Self.name)[0].decode(Int64.self, at: 0)
                if checkpoint >= head { return }
                try await Task.sleep(for: .milliseconds(20))
            case .unknownVersion(let version): throw ProjectionError.unknownVersion(name: Self.name, version: version)
            case .notInstalled: throw ProjectionError.notInstalled(name: Self.name)
            }
        }
    }

    /// Runs until the task is cancelled: folds full batches back to back while it
    /// is behind, otherwise once per `idleInterval`. Chasing the head batch after
    /// batch under live load cost the primary ~75 small folds a second (a log
    /// scan page each) for a read model that may lag by a fraction of a second.
    public func run() async {
        var reported: Outcome?
        while !Task.isCancelled {
            let outcome: Outcome
            do {
                outcome = try await step()
            } catch {
                if !Task.isCancelled { logger.warning("projection batch failed; retrying", metadata: ["projection": "\(Self.name)", "error": "\(error)"]) }
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            if case .folded(let events) = outcome {
                if events >= Int64(batchSize) { continue }
            } else {
                if outcome != reported, outcome != .caughtUp, outcome != .busy {
                    logger.warning("projection not maintained by this instance", metadata: ["projection": "\(Self.name)", "state": "\(outcome)"])
                }
                reported = outcome
            }
            try? await Task.sleep(for: idleInterval)
        }
    }
}

public enum ProjectionError: Error, CustomStringConvertible, Equatable {
    case unknownProjection(String)
    case unknownVersion(name: String, version: Int)
    case notInstalled(name: String)
    case verifyFailed(differences: Int)

    public var description: String {
        switch self {
        case .unknownProjection(let name): "no projection is called \(name); known: outline_sessions, session_activity"
        case .unknownVersion(let name, let version):
            "\(name) runs at version \(version), which this build does not know (it knows \(SessionActivityVersion.all.map { String($0.number) }.joined(separator: ", ")))"
        case .notInstalled(let name): "\(name) is not installed: run `outline-admin migrate up` (migration 0012)"
        case .verifyFailed(let count): "verification found \(count) differing row(s); nothing was swapped"
        }
    }
}
