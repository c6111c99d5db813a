import Foundation
import Hummingbird
import PostgresClient

/// How long sessions take, read from the last 100 that completed in 30 days:
/// the page turns it into the time a running session has probably left. The
/// figures are over every user's sessions (a median and a p90 name no one),
/// optionally of one mode, since a polled run ends up to a poll later.
struct SessionDurations: Encodable, Sendable {
    var mode: String?
    var completedSessions: Int64
    var medianSeconds: Double?
    var p90Seconds: Double?
    var windowDays: Int
    var sample: Int

    enum CodingKeys: String, CodingKey { case mode, completedSessions, medianSeconds, p90Seconds, windowDays, sample }

    /// Every field present, null when there is no figure yet (as the OpenAPI document says).
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mode, forKey: .mode)
        try container.encode(completedSessions, forKey: .completedSessions)
        try container.encode(medianSeconds, forKey: .medianSeconds)
        try container.encode(p90Seconds, forKey: .p90Seconds)
        try container.encode(windowDays, forKey: .windowDays)
        try container.encode(sample, forKey: .sample)
    }

    static let windowDays = 30
    static let sample = 100

    static func read(_ pool: PostgresPool, mode: String?) async throws -> SessionDurations {
        // The partial index on completed_at (0022) serves the newest ended sessions.
        let row = try await pool.query(
            """
            SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds), percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)
              FROM (SELECT greatest(extract(epoch FROM completed_at - started_at), 0)::float8 AS seconds
                      FROM outline_session_rows
                     WHERE NOT is_active AND status = 'completed' AND completed_at > now() - make_interval(days => $1)
                       AND ($2::text IS NULL OR mode = $2)
                     ORDER BY completed_at DESC LIMIT $3) newest
            """, Int32(windowDays), mode, Int32(sample))[0]
        return SessionDurations(mode: mode, completedSessions: try row.decode(Int64.self, at: 0), medianSeconds: try row.decode(Double?.self, at: 1),
                                p90Seconds: try row.decode(Double?.self, at: 2), windowDays: windowDays, sample: sample)
    }

    /// `GET /api/session-durations?mode=streaming|polling`.
    static func register(on group: RouterGroup<OutlineRequestContext>, pool: PostgresPool) {
        group.get("/session-durations") { request, context in
            _ = try context.requireAPIIdentity()
            let mode = request.uri.queryParameters.get("mode").map { String($0) }
            if let mode, !["streaming", "polling"].contains(mode) {
                throw APIError.invalid("mode", "mode is streaming or polling.", code: "invalid_mode")
            }
            return try JSONResponse.make(try await read(pool, mode: mode))
        }
    }
}
