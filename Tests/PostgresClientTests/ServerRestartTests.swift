import Foundation
import PostgresClient
import Testing
import TestSupport

/// Restarts the PostgreSQL server itself, so `Tools/test.sh` runs this suite in a
/// pass of its own (OUTLINE_PG_RESTART_TESTS=1), where it disturbs no other test.
@Suite("PostgreSQL server restart", .enabled(if: ProcessInfo.processInfo.environment["OUTLINE_PG_RESTART_TESTS"] == "1"))
struct ServerRestartTests {
    func restartServer() async throws {
        guard let script = ProcessInfo.processInfo.environment["OUTLINE_PG_SCRIPT"] else {
            Issue.record("OUTLINE_PG_SCRIPT is not set: run through Tools/test.sh")
            return
        }
        #expect(try await runChild(script, ["restart"]) == 0)
    }

    @Test("a LISTEN subscriber and the pool recover after the server restarts, and see every later commit")
    func recoversAfterRestart() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, settings in
            let listener = NotificationListener(settings: settings, channels: ["outline_events"], reconnectDelay: .milliseconds(100))
            var events = listener.events.makeAsyncIterator()
            #expect(await events.next() == .listening(isReconnect: false))
            try await pool.query("SELECT pg_notify('outline_events', 'before')")
            if case .notification(let first) = await events.next() {
                #expect(first.payload == "before")
            } else {
                Issue.record("no notification before the restart")
            }
            try await restartServer()
            #expect(await events.next() == .listening(isReconnect: true))
            for i in 0..<20 {
                try await pool.query("SELECT pg_notify('outline_events', $1)", "after-\(i)")
            }
            var payloads: [String] = []
            while payloads.count < 20, let event = await events.next() {
                if case .notification(let notification) = event { payloads.append(notification.payload) }
            }
            #expect(payloads == (0..<20).map { "after-\($0)" })
            listener.stop()
        }
    }
}
