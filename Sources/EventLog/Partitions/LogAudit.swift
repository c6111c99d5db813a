import Crypto
import Foundation
import PostgresClient

/// The log's audit stream (`outline_log_audit`): what left the log other than
/// by an append, when, who did it and why. Written in the same transaction as
/// the change it records; hash-chained like a session.
public struct LogAudit: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case partitionDropped = "partition_dropped"
        case redacted
        case retentionExpired = "retention_expired"
    }

    public struct Record: Sendable, Equatable {
        public var sequence: Int64
        public var kind: String
        public var recordedAt: Date
        public var actor: String
        public var reason: String
        /// The details as stored (jsonb's normalized text).
        public var details: String
        public var chainLink: [UInt8]
    }

    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// Appends a record inside the caller's transaction; returns its sequence.
    @discardableResult
    public static func append(_ kind: Kind, actor: String, reason: String, details: some Encodable, on connection: isolated PostgresConnection) throws -> Int64 {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(details), as: UTF8.self)
        return try connection.query("SELECT outline_log_audit_append($1, $2, $3, $4::jsonb)", kind.rawValue, actor, reason, json)[0].decode(Int64.self, at: 0)
    }

    /// The records in order, optionally of one kind only.
    public func records(kind: Kind? = nil, limit: Int = 10_000) async throws -> [Record] {
        try await pool.query(
            """
            SELECT sequence, kind, recorded_at, actor, reason, details::text, chain_link FROM outline_log_audit
             WHERE $1::text IS NULL OR kind = $1 ORDER BY sequence LIMIT $2
            """,
            kind?.rawValue, Int64(max(0, limit))
        ).map {
            Record(sequence: try $0.decode(Int64.self, at: 0), kind: try $0.decode(String.self, at: 1), recordedAt: try $0.decode(Date.self, at: 2),
                   actor: try $0.decode(String.self, at: 3), reason: try $0.decode(String.self, at: 4), details: try $0.decode(String.self, at: 5),
                   chainLink: try $0.decode(PostgresBytes.self, at: 6).bytes)
        }
    }

    /// Recomputes the audit stream's chain; the first record whose link or
    /// sequence does not follow, if any.
    public func verify() async throws -> (records: Int, firstBroken: Int64?) {
        var previous = [UInt8](repeating: 0, count: 32)
        var expected: Int64 = 1
        var count = 0
        for record in try await records(limit: Int(Int32.max)) {
            count += 1
            var hasher = SHA256()
            hasher.update(data: previous)
            withUnsafeBytes(of: record.sequence.bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(data: Array(record.kind.utf8))
            hasher.update(data: Array(SHA256.hash(data: Array(record.details.utf8))))
            let link = Array(hasher.finalize())
            guard record.sequence == expected, link == record.chainLink else { return (count, record.sequence) }
            previous = link
            expected += 1
        }
        return (count, nil)
    }
}
