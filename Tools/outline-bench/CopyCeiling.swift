import EventLog
import BenchmarkSupport
import Foundation
import PostgresClient

/// PostgreSQL's own ceiling for rows into the events table: binary COPY of rows
/// shaped like our deltas, in the same run, into a scratch copy of the table
/// with the same columns and indexes (dropped afterwards, so the log itself only
/// ever holds events appended through the append function, with true chains).
struct CopyCeiling {
    var rows: Int

    func run(pool: PostgresPool) async throws {
        let json = try EventCatalog.encode(.outputTextDelta(OutputTextDelta(
            itemId: "msg_0cc96ac817fdc57e00693337", outputIndex: 2, contentIndex: 0, delta: " renewable tidal–stream sites4", providerSequence: 1)))
        let link = ChainLink.next(previous: ChainLink.genesis, sequence: 1, eventType: OutputTextDelta.eventType, json: json)
        let firstPosition = try await pool.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0) + 1_000_000_000
        // PGCOPY binary: signature, flags, header extension, then tuples, then -1.
        var chunk: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
        var chunks: [[UInt8]] = []
        let sessionsPerCopy = 100
        let sessionIDs = (0..<sessionsPerCopy).map { _ in UUID() }
        func field(_ value: some PostgresEncodable) {
            var bytes: [UInt8] = []
            value.encodePostgres(into: &bytes)
            withUnsafeBytes(of: Int32(bytes.count).bigEndian) { chunk.append(contentsOf: $0) }
            chunk.append(contentsOf: bytes)
        }
        let now = Date()
        for i in 0..<rows {
            withUnsafeBytes(of: Int16(10).bigEndian) { chunk.append(contentsOf: $0) }
            field(firstPosition + Int64(i))
            field(sessionIDs[i % sessionsPerCopy])
            field(Int32(i / sessionsPerCopy + 1))
            field(OutputTextDelta.eventType)
            field(Int16(1))
            field(Int16(0))
            field(PostgresBytes(json))
            field(Int32(json.count))
            field(now)
            field(PostgresBytes(link))
            if chunk.count > 1 << 20 {
                chunks.append(chunk)
                chunk = []
            }
        }
        withUnsafeBytes(of: Int16(-1).bigEndian) { chunk.append(contentsOf: $0) }
        chunks.append(chunk)
        let start = ContinuousClock.now
        try await pool.query("DROP TABLE IF EXISTS outline_events_copy_ceiling")
        try await pool.query("CREATE TABLE outline_events_copy_ceiling (LIKE outline_events INCLUDING ALL)")
        let copied = try await pool.withConnection { connection in
            try await connection.copyIn(
                """
                COPY outline_events_copy_ceiling (position, session_id, sequence, event_type, schema_version, codec, payload, raw_size, recorded_at, chain_link)
                FROM STDIN (FORMAT binary)
                """,
                data: chunks
            )
        }
        let elapsed = seconds(since: start)
        try await pool.query("DROP TABLE outline_events_copy_ceiling")
        print(String(format: "copy ceiling: %d rows by binary COPY into a scratch copy of outline_events (same indexes) in %.2f s = %.0f rows/s (one transaction)",
                     copied, elapsed, Double(copied) / elapsed))
    }
}
