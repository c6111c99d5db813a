import PostgresClient

/// Whether the database is fit to serve: every migration applied unchanged, and
/// the objects the invariants rest on actually present (someone with enough rights
/// could have dropped a trigger by hand). Backs `/readyz` and `migrate health`.
public struct SchemaHealth: Sendable {
    public var problems: [String]
    /// Streaming migrations that are not applied (reverted for a rollback):
    /// not a problem, the service runs V2 only.
    public var streamingReverted: [Int]
    public var isHealthy: Bool { problems.isEmpty }

    /// Triggers, indexes and functions the invariants need, by catalog name.
    static let requiredTriggers = [
        ("outline_events", "outline_events_no_update_or_delete"), ("outline_events", "outline_events_no_truncate"),
        ("outline_event_segments", "outline_event_segments_no_update_or_delete"), ("outline_event_segments", "outline_event_segments_no_truncate"),
        ("outline_compacted_sessions", "outline_compacted_sessions_no_update_or_delete"), ("outline_compacted_sessions", "outline_compacted_sessions_no_truncate"),
        ("outline_log_audit", "outline_log_audit_no_update_or_delete"), ("outline_log_audit", "outline_log_audit_no_truncate"),
        ("outline_event_packs", "outline_event_packs_no_update_or_delete"), ("outline_event_packs", "outline_event_packs_no_truncate"),
    ]
    static let requiredIndexes = [
        "outline_events_pkey", "outline_events_session_sequence_key",
        "outline_sessions_one_active_per_workflow", "outline_event_streams_pkey",
    ]
    /// Objects of streaming migrations, required only while their migration is applied.
    static let streamingIndexes = [7: "outline_events_provider_sequence_once"]
    static let streamingRelations = [10: "outline_feature_flags"]
    static let requiredFunctions = ["outline_append_events", "outline_sessions_define_view"]
    static let requiredRelations = ["outline_events", "outline_event_streams", "outline_log_head", "outline_sessions", "outline_session_rows", "outline_session_text",
                                     "outline_session_leases", "outline_workflows", "outline_projections", "outline_session_activity",
                                     "outline_event_segments", "outline_compacted_sessions", "outline_event_partitions", "outline_log_audit",
                                     "outline_event_packs"]

    public static func check(_ migrator: Migrator) async throws -> SchemaHealth {
        var problems: [String] = []
        let status = try await migrator.status()
        let reverted = status.pending(.streaming)
        for entry in status.entries {
            if entry.appliedAt == nil && entry.scope == .core { problems.append("migration \(entry.version) (\(entry.name)) is not applied") }
            if entry.checksumMatches == false { problems.append("migration \(entry.version) (\(entry.name)) changed after it was applied") }
        }
        for unknown in status.unknownApplied {
            problems.append("migration \(unknown.version) (\(unknown.name)) is applied but unknown to this build")
        }
        let pool = migrator.pool
        let triggers = Set(try await pool.query(
            """
            SELECT c.relname || '/' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE c.relname = ANY($1) AND c.relnamespace = current_schema()::regnamespace AND t.tgenabled <> 'D'
            """,
            PostgresArray(Array(Set(requiredTriggers.map(\.0))))
        ).map { try $0.decode(String.self, at: 0) })
        for (table, name) in requiredTriggers where !triggers.contains("\(table)/\(name)") {
            problems.append("trigger \(name) on \(table) is missing or disabled: the log is not protected against changes")
        }
        let indexes = Set(try await pool.query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        ).map { try $0.decode(String.self, at: 0) })
        for name in requiredIndexes where !indexes.contains(name) { problems.append("index \(name) is missing") }
        for (version, name) in streamingIndexes where !reverted.contains(version) && !indexes.contains(name) { problems.append("index \(name) is missing") }
        let functions = Set(try await pool.query(
            "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
        ).map { try $0.decode(String.self, at: 0) })
        for name in requiredFunctions where !functions.contains(name) { problems.append("function \(name) is missing") }
        for name in requiredRelations + streamingRelations.filter({ !reverted.contains($0.key) }).map(\.value) {
            let present = try await pool.query("SELECT to_regclass($1) IS NOT NULL", name)[0].decode(Bool.self, at: 0)
            if !present { problems.append("table or view \(name) is missing") }
        }
        problems += try await partitionProblems(pool)
        return SchemaHealth(problems: problems, streamingReverted: reverted)
    }

    /// Every live partition exists, is part of the log, carries both guards
    /// and its range; no row sits in the parent itself; one partition lies
    /// ahead of the head or the appends will be creating it themselves.
    static func partitionProblems(_ pool: PostgresPool) async throws -> [String] {
        guard try await pool.query("SELECT to_regclass('outline_event_partitions') IS NOT NULL")[0].decode(Bool.self, at: 0) else { return [] }
        var problems: [String] = []
        for row in try await pool.query(
            """
            SELECT p.name, to_regclass(p.name) IS NOT NULL,
                   EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = to_regclass(p.name) AND i.inhparent = 'outline_events'::regclass),
                   (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = to_regclass(p.name) AND t.tgenabled <> 'D'
                       AND t.tgname IN ('outline_events_no_update_or_delete', 'outline_events_no_truncate')),
                   EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = to_regclass(p.name) AND c.conname = p.name || '_range')
              FROM outline_event_partitions p WHERE p.dropped_at IS NULL ORDER BY p.first_position
            """
        ) {
            let name = try row.decode(String.self, at: 0)
            guard try row.decode(Bool.self, at: 1) else { problems.append("log partition \(name) is registered but missing: its rows are gone"); continue }
            if !(try row.decode(Bool.self, at: 2)) { problems.append("log partition \(name) is not attached to outline_events: readers do not see its rows") }
            if try row.decode(Int64.self, at: 3) < 2 { problems.append("log partition \(name) lacks its append-only triggers (or one is disabled)") }
            if !(try row.decode(Bool.self, at: 4)) { problems.append("log partition \(name) lacks its position range constraint") }
        }
        let strays = try await pool.query("SELECT count(*) FROM ONLY outline_events")[0].decode(Int64.self, at: 0)
        if strays > 0 { problems.append("\(strays) row(s) sit in outline_events itself, outside every partition: they were not written by the append function") }
        return problems
    }
}
