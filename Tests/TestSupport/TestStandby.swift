import Foundation
import PostgresClient

/// The private cluster's streaming standby (`Tools/dev/postgres.sh standby
/// start`, which `Tools/test.sh` runs): physical replication, so each test
/// database made on the primary appears on it under the same name.
public enum TestStandby {
    /// The standby's settings for a test database, as the service role; nil when
    /// the suite runs without a standby (then the test says how to start one).
    public static func settings(for primary: ConnectionSettings) -> ConnectionSettings? {
        guard let url = TestDatabase.environment["OUTLINE_STANDBY_DATABASE_URL"], !url.isEmpty else { return nil }
        return ConnectionSettings(url).withDatabase(TestDatabase.name(of: primary))
    }

    /// The same as the superuser (to pause and resume its replay).
    public static func superuser(for primary: ConnectionSettings) -> ConnectionSettings? {
        guard let url = TestDatabase.environment["OUTLINE_STANDBY_SUPERUSER_DATABASE_URL"], !url.isEmpty else { return nil }
        return ConnectionSettings(url).withDatabase(TestDatabase.name(of: primary))
    }

    /// Waits until the standby has replayed everything the primary has committed
    /// so far (a bound against a stuck standby, not a timing).
    public static func caughtUp(primary: PostgresPool, standby: ConnectionSettings, within: Duration = .seconds(120)) async throws {
        let target = try await primary.query("SELECT pg_current_wal_lsn()::text")[0].decode(String.self, at: 0)
        try await Deadline.wait(for: "the standby to replay up to \(target)", within: within, every: .milliseconds(50)) {
            guard let connection = try? await PostgresConnection.connect(standby) else { return false }
            defer { Task { await connection.close() } }
            let rows = try? await connection.query("SELECT pg_last_wal_replay_lsn() >= '\(target)'::pg_lsn")
            return (try? rows?.first?.decode(Bool.self, at: 0)) ?? false
        }
    }

    /// Runs `body` while no other test in this process pauses the standby: its
    /// replay is one for every database, so tests that pause it take turns.
    public static func exclusively<T>(_ body: () async throws -> T) async throws -> T {
        await turns.acquire()
        do {
            let result = try await body()
            await turns.release()
            return result
        } catch {
            await turns.release()
            throw error
        }
    }

    static let turns = Turns()

    /// A first-come, first-served lock for async code.
    actor Turns {
        private var held = false
        private var waiting: [CheckedContinuation<Void, Never>] = []
        func acquire() async {
            if !held { held = true; return }
            await withCheckedContinuation { waiting.append($0) }
        }
        func release() {
            if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
        }
    }

    /// Pauses (true) or resumes (false) the standby's replay: it keeps receiving
    /// WAL, but shows nothing new until resumed — a lag the test controls.
    public static func setReplayPaused(_ paused: Bool, primary: ConnectionSettings) async throws {
        guard let settings = superuser(for: primary) else { return }
        let connection = try await PostgresConnection.connect(settings)
        _ = try await connection.query(paused ? "SELECT pg_wal_replay_pause()" : "SELECT pg_wal_replay_resume()")
        if paused {
            try await Deadline.wait(for: "the standby's replay to pause", within: .seconds(60), every: .milliseconds(20)) {
                (try? await connection.query("SELECT pg_get_wal_replay_pause_state()")[0].decode(String.self, at: 0)) == "paused"
            }
        }
        await connection.close()
    }
}
