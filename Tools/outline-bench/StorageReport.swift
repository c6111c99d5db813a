import Foundation
import PostgresClient

/// Bytes on disk per event, table and each index, against the events' raw JSON.
struct StorageReport {
    /// `expression` (of `c.oid`) summed over the log's tables: the parent and every partition.
    static func logRelations(_ expression: String) -> String {
        """
        SELECT coalesce(sum(\(expression)), 0)::int8 FROM pg_class c
         WHERE c.oid = 'outline_events'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'outline_events'::regclass)
        """
    }

    func run(pool: PostgresPool) async throws {
        try await pool.query("VACUUM ANALYZE outline_events")
        let row = try await pool.query("""
            SELECT count(*), coalesce(sum(raw_size), 0), coalesce(sum(octet_length(payload)), 0),
                   (\(Self.logRelations("pg_relation_size(c.oid)"))), (\(Self.logRelations("pg_table_size(c.oid)"))), (\(Self.logRelations("pg_indexes_size(c.oid)")))
              FROM outline_events
            """)[0]
        let count = max(1, try row.decode(Int64.self, at: 0))
        let raw = Double(try row.decode(Int64.self, at: 1)) / Double(count)
        let stored = Double(try row.decode(Int64.self, at: 2)) / Double(count)
        let heap = Double(try row.decode(Int64.self, at: 4)) / Double(count)
        let indexes = Double(try row.decode(Int64.self, at: 5)) / Double(count)
        print(String(format: "storage: %lld events; raw JSON %.0f B/event, stored payload %.0f B/event; table %.0f B/event + indexes %.0f B/event = %.0f B/event (%.1fx the JSON)",
                     count, raw, stored, heap, indexes, heap + indexes, (heap + indexes) / raw))
        // Per index, summed over the partitions (their index names end alike).
        for index in try await pool.query("""
            SELECT regexp_replace(c.relname, '^outline_events_p[0-9]+_', 'outline_events_'), sum(pg_relation_size(c.oid))::int8
              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = 'outline_events'::regclass OR i.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'outline_events'::regclass)
             GROUP BY 1 ORDER BY 1
            """) {
            print(String(format: "storage:   index %@ %.0f B/event", try index.decode(String.self, at: 0) as NSString,
                         Double(try index.decode(Int64.self, at: 1)) / Double(count)))
        }
    }
}
