import Foundation
import PostgresClient

/// Bytes on disk per event, table and each index, against the events' raw JSON.
struct StorageReport {
    func run(pool: PostgresPool) async throws {
        try await pool.query("VACUUM ANALYZE outline_events")
        let row = try await pool.query("""
            SELECT count(*), coalesce(sum(raw_size), 0), coalesce(sum(octet_length(payload)), 0),
                   pg_relation_size('outline_events'), pg_table_size('outline_events'), pg_indexes_size('outline_events')
              FROM outline_events
            """)[0]
        let count = max(1, try row.decode(Int64.self, at: 0))
        let raw = Double(try row.decode(Int64.self, at: 1)) / Double(count)
        let stored = Double(try row.decode(Int64.self, at: 2)) / Double(count)
        let heap = Double(try row.decode(Int64.self, at: 4)) / Double(count)
        let indexes = Double(try row.decode(Int64.self, at: 5)) / Double(count)
        print(String(format: "storage: %lld events; raw JSON %.0f B/event, stored payload %.0f B/event; table %.0f B/event + indexes %.0f B/event = %.0f B/event (%.1fx the JSON)",
                     count, raw, stored, heap, indexes, heap + indexes, (heap + indexes) / raw))
        for index in try await pool.query("""
            SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = 'outline_events'::regclass ORDER BY 1
            """) {
            print(String(format: "storage:   index %@ %.0f B/event", try index.decode(String.self, at: 0) as NSString,
                         Double(try index.decode(Int64.self, at: 1)) / Double(count)))
        }
    }
}
