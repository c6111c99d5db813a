import Foundation
import Logging
import PostgresClient

/// The hot log's partitions (migration 0016): list them, size new ones, keep
/// one ready ahead of the appends, and drop the ones whose every row lives in
/// verified segments, by DDL and with an audit record of what they held.
public struct LogPartitions: Sendable {
    public struct Partition: Sendable, Equatable {
        public var name: String
        public var firstPosition: Int64
        public var lastPosition: Int64
        public var createdAt: Date
        public var droppedAt: Date?
        /// Every position in it has been handed out: no append lands there again.
        public var isClosed: Bool
        /// PostgreSQL's estimate (exact after ANALYZE).
        public var estimatedRows: Int64
    }

    /// What a dropped partition held, as its audit record says.
    public struct Dropped: Sendable, Codable, Equatable {
        public struct Segment: Sendable, Codable, Equatable {
            public var session: String
            public var firstSequence: Int32
            public var lastSequence: Int32
            public var digest: String
        }
        public var partition: String
        public var firstPosition: Int64
        public var lastPosition: Int64
        public var sessions: Int
        public var events: Int64
        public var segments: [Segment]
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case unknown(String)
        case alreadyDropped(String)
        case open(String, lastPosition: Int64, head: Int64)
        case uncovered(String, rows: Int64, session: UUID)
        case unverified(String, session: UUID, why: String)

        public var description: String {
            switch self {
            case .unknown(let name): "no partition \(name)"
            case .alreadyDropped(let name): "partition \(name) was dropped already"
            case .open(let name, let last, let head): "partition \(name) is still open: it ends at position \(last), the log is at \(head)"
            case .uncovered(let name, let rows, let session):
                "partition \(name) holds \(rows) row(s) no segment covers (session \(session.uuidString.lowercased()) and maybe others): compact first"
            case .unverified(let name, let session, let why):
                "partition \(name): session \(session.uuidString.lowercased()) does not verify from its segments (\(why)); nothing dropped"
            }
        }
    }

    public let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "outlinestream.partitions")) {
        self.pool = pool
        self.logger = logger
    }

    public func list(includeDropped: Bool = true) async throws -> [Partition] {
        let head = try await pool.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
        return try await pool.query(
            """
            SELECT p.name, p.first_position, p.last_position, p.created_at, p.dropped_at, coalesce(c.reltuples, 0)::int8
              FROM outline_event_partitions p LEFT JOIN pg_class c ON c.oid = to_regclass(p.name)
             WHERE $1 OR p.dropped_at IS NULL ORDER BY p.first_position
            """,
            includeDropped
        ).map {
            let last = try $0.decode(Int64.self, at: 2)
            return Partition(name: try $0.decode(String.self, at: 0), firstPosition: try $0.decode(Int64.self, at: 1), lastPosition: last,
                             createdAt: try $0.decode(Date.self, at: 3), droppedAt: try $0.decode(Date?.self, at: 4), isClosed: last <= head,
                             estimatedRows: max(0, try $0.decode(Int64.self, at: 5)))
        }
    }

    /// The positions a new partition spans (`0` would be refused). On an empty
    /// log the empty partitions are replaced by ones of this size.
    public func setSize(_ size: Int64) async throws {
        try await pool.query("SELECT outline_events_set_partition_size($1)", size)
    }

    public func size() async throws -> Int64 {
        try await pool.query("SELECT partition_size FROM outline_log_head")[0].decode(Int64.self, at: 0)
    }

    /// Creates partitions until a whole empty one lies ahead of the head, so an
    /// append rarely has to create one itself (DDL inside the hot path).
    @discardableResult
    public func ensureAhead() async throws -> [String] {
        try await pool.withConnection { connection in
            try await connection.transaction { connection -> [String] in
                var created: [String] = []
                while true {
                    let row = try connection.query("""
                        SELECT h.last_position, h.partition_size, (SELECT coalesce(max(last_position), 0) FROM outline_event_partitions)
                          FROM outline_log_head h
                        """)[0]
                    let head = try row.decode(Int64.self, at: 0), size = try row.decode(Int64.self, at: 1), end = try row.decode(Int64.self, at: 2)
                    guard end - head < size, created.count < 8 else { return created }
                    created.append(try connection.query("SELECT outline_events_add_partition()")[0].decode(String.self, at: 0))
                }
            }
        }
    }

    /// Closed partitions whose every row a segment covers, oldest first.
    public func droppable() async throws -> [Partition] {
        var found: [Partition] = []
        for partition in try await list(includeDropped: false) where partition.isClosed {
            if try await uncovered(partition.name) == nil { found.append(partition) }
        }
        return found
    }

    /// Detaches and drops one partition in one transaction, with an audit
    /// record of what it held (range, sessions, events, the covering segments'
    /// digests). Refused, changing nothing, unless the partition is closed,
    /// every row of it is covered by segments, and every session in it
    /// verifies from its segments.
    public func drop(_ name: String, actor: String, reason: String, lockTimeout: Duration = .seconds(5)) async throws -> Dropped {
        guard let partition = try await list().first(where: { $0.name == name }) else { throw Refusal.unknown(name) }
        if partition.droppedAt != nil { throw Refusal.alreadyDropped(name) }
        let head = try await pool.query("SELECT last_position FROM outline_log_head")[0].decode(Int64.self, at: 0)
        guard partition.isClosed else { throw Refusal.open(name, lastPosition: partition.lastPosition, head: head) }
        if let (rows, session) = try await uncovered(name) { throw Refusal.uncovered(name, rows: rows, session: session) }
        let table = try Self.quoted(name)
        let sessions = try await pool.query("SELECT DISTINCT session_id FROM ONLY \(table)").map { try $0.decode(UUID.self, at: 0) }
        let events = try await pool.query("SELECT count(*) FROM ONLY \(table)")[0].decode(Int64.self, at: 0)
        let verifier = ChainVerifier(pool: pool)
        for session in sessions {
            let report = try await verifier.verify(session: session)
            if let failure = report.breaks.first { throw Refusal.unverified(name, session: session, why: failure.description) }
        }
        let segments = try await pool.query(
            "SELECT session_id, first_sequence, last_sequence, digest FROM outline_event_segments WHERE session_id = ANY($1) ORDER BY session_id, first_sequence",
            PostgresArray(sessions)
        ).map {
            Dropped.Segment(session: try $0.decode(UUID.self, at: 0).uuidString.lowercased(), firstSequence: try $0.decode(Int32.self, at: 1),
                            lastSequence: try $0.decode(Int32.self, at: 2), digest: Hex.encode(try $0.decode(PostgresBytes.self, at: 3).bytes))
        }
        // A packed session's segment is its part of a pack: the record names the pack's digest.
        let packed = try await pool.query(
            """
            SELECT c.session_id, c.covered_through, p.digest FROM outline_compacted_sessions c JOIN outline_event_packs p ON p.pack_id = c.pack_id
             WHERE c.session_id = ANY($1) ORDER BY c.session_id
            """,
            PostgresArray(sessions)
        ).map {
            Dropped.Segment(session: try $0.decode(UUID.self, at: 0).uuidString.lowercased(), firstSequence: 1,
                            lastSequence: try $0.decode(Int32.self, at: 1), digest: Hex.encode(try $0.decode(PostgresBytes.self, at: 2).bytes))
        }
        let dropped = Dropped(partition: name, firstPosition: partition.firstPosition, lastPosition: partition.lastPosition,
                              sessions: sessions.count, events: events, segments: (segments + packed).sorted { ($0.session, $0.firstSequence) < ($1.session, $1.firstSequence) })
        let timeoutMilliseconds = max(1, Int(lockTimeout.components.seconds * 1000 + lockTimeout.components.attoseconds / 1_000_000_000_000_000))
        try await pool.withConnection { connection in
            try await connection.transaction { connection in
                try connection.execute("SET LOCAL lock_timeout = '\(timeoutMilliseconds)ms'")
                // Out of the log first (a moment's exclusive lock on this partition only),
                // then the record of what it held, then the table itself.
                try connection.execute("ALTER TABLE \(table) NO INHERIT outline_events")
                try LogAudit.append(.partitionDropped, actor: actor, reason: reason, details: dropped, on: connection)
                try connection.query("UPDATE outline_event_partitions SET dropped_at = now() WHERE name = $1", name)
                try connection.execute("DROP TABLE \(table)")
            }
        }
        logger.info("dropped a log partition", metadata: ["partition": "\(name)", "sessions": "\(sessions.count)", "events": "\(events)", "by": "\(actor)"])
        return dropped
    }

    /// How many rows of the partition no compaction covers, and one session they belong to.
    private func uncovered(_ name: String) async throws -> (Int64, UUID)? {
        let table = try Self.quoted(name)
        let rows = try await pool.query(
            """
            SELECT count(*), min(e.session_id::text) FROM ONLY \(table) e
             WHERE NOT EXISTS (SELECT 1 FROM outline_compacted_sessions c WHERE c.session_id = e.session_id AND e.sequence <= c.covered_through)
            """
        )
        let count = try rows[0].decode(Int64.self, at: 0)
        guard count > 0, let session = try rows[0].decode(String?.self, at: 1).flatMap(UUID.init(uuidString:)) else { return nil }
        return (count, session)
    }

    /// Partition names come from the registry, which only the add function
    /// writes (`outline_events_p` and digits); anything else is refused rather
    /// than put into SQL.
    static func quoted(_ name: String) throws -> String {
        guard name.hasPrefix("outline_events_p"), name.dropFirst("outline_events_p".count).allSatisfy(\.isNumber), name.count <= 63 else {
            throw Refusal.unknown(name)
        }
        return "\"\(name)\""
    }
}
