import Foundation
import PostgresClient
import Testing
import TestSupport

@Suite("LISTEN/NOTIFY")
struct NotificationListenerTests {
    @Test("a listener sees every committed notification, none from a rolled-back transaction")
    func seesEveryCommit() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, settings in
            let listener = NotificationListener(settings: settings, channels: ["outline_events"])
            var events = listener.events.makeAsyncIterator()
            #expect(await events.next() == .listening(isReconnect: false))
            for i in 0..<50 {
                try await pool.withTransaction { try await $0.query("SELECT pg_notify('outline_events', $1)", "n\(i)") }
            }
            await #expect(throws: PostgresError.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("SELECT pg_notify('outline_events', 'rolled back')")
                    try await connection.query("SELECT 1/0")
                }
            }
            try await pool.query("SELECT pg_notify('outline_events', 'last')")
            var payloads: [String] = []
            while payloads.last != "last", let event = await events.next() {
                if case .notification(let notification) = event { payloads.append(notification.payload) }
            }
            #expect(payloads == (0..<50).map { "n\($0)" } + ["last"])
            listener.stop()
        }
    }

    @Test("a listener whose connection is terminated reconnects and LISTENs again")
    func relistensAfterTermination() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, settings in
            let listener = NotificationListener(settings: settings, channels: ["outline_events"], reconnectDelay: .milliseconds(50))
            var events = listener.events.makeAsyncIterator()
            #expect(await events.next() == .listening(isReconnect: false))
            try await pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()")
            #expect(await events.next() == .listening(isReconnect: true))
            try await pool.query("SELECT pg_notify('outline_events', 'after')")
            guard case .notification(let notification) = await events.next() else {
                Issue.record("the listener delivered no notification after reconnecting")
                return
            }
            #expect(notification.channel == "outline_events")
            #expect(notification.payload == "after")
            listener.stop()
        }
    }
}
