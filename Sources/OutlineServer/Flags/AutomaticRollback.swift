import Foundation
import Logging
import Metrics
import PostgresClient
import ServiceLifecycle

/// The rollback that triggers itself: over a sliding window, compares how often
/// streaming sessions fail with how often polling ones do, and past the
/// threshold turns `USE_STREAMING` off, recorded in the flag history as made by
/// `system:auto-rollback` with the figures that caused it. An operator turns
/// streaming back on (the admin endpoint or page); only sessions that ended
/// after that change count from then on, so the same failures cannot flip it
/// again.
///
/// Every instance runs it; the flags' table lock makes the flip happen once
/// (the second instance finds streaming already off and records nothing).
public struct AutomaticRollback: Service, Sendable {
    public struct Settings: Sendable, Equatable {
        /// `OUTLINE_ROLLBACK_ENABLED`.
        public var enabled = true
        /// `OUTLINE_ROLLBACK_WINDOW_MINUTES`: sessions that ended this recently count.
        public var window: Duration = .seconds(3600)
        /// `OUTLINE_ROLLBACK_MIN_SESSIONS`: streaming sessions that must have ended in the window before it judges.
        public var minimumSessions = 20
        /// `OUTLINE_ROLLBACK_THRESHOLD_POINTS`: how many percentage points above polling's failure rate streaming may fail.
        public var thresholdPoints = 5.0
        /// `OUTLINE_ROLLBACK_INTERVAL_SECONDS`.
        public var interval: Duration = .seconds(30)
        public init() {}
    }

    /// One look at the window.
    public struct Verdict: Sendable, Encodable, Equatable {
        public var windowMinutes: Int
        public var since: Date
        public var streamingSessions: Int64
        public var streamingFailed: Int64
        public var pollingSessions: Int64
        public var pollingFailed: Int64
        /// Where polling's rate came from: `window`, `week` (too few polled sessions in the window) or `none` (taken as 0).
        public var pollingBaseline: String
        public var streamingRate: Double
        public var pollingRate: Double
        public var gapPoints: Double
        public var thresholdPoints: Double
        public var minimumSessions: Int
        /// Enough streaming sessions ended in the window to judge.
        public var judged: Bool
        public var tripped: Bool

        public var reason: String {
            String(format: "streaming failed %lld of %lld sessions (%.1f%%) in the last %d min, polling %lld of %lld (%.1f%%, %@): %.1f points above, past the %.1f-point threshold",
                   streamingFailed, streamingSessions, streamingRate * 100, windowMinutes, pollingFailed, pollingSessions, pollingRate * 100,
                   pollingBaseline as NSString, gapPoints, thresholdPoints)
        }
    }

    let pool: PostgresPool
    let flags: FeatureFlags
    let settings: Settings
    let logger: Logger

    public static let changedBy = "system:auto-rollback"

    public init(pool: PostgresPool, flags: FeatureFlags, settings: Settings, logger: Logger) {
        self.pool = pool
        self.flags = flags
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        guard settings.enabled else { return }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    _ = try await checkOnce()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("the automatic rollback check failed; will retry", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: settings.interval)
            }
        }
    }

    /// Judges the window; turns streaming off when tripped and it is on.
    /// Returns the verdict, and whether this call made the change.
    @discardableResult
    public func checkOnce() async throws -> (verdict: Verdict, flipped: Bool) {
        let verdict = try await judge()
        AutomaticRollback.record(verdict)
        guard verdict.tripped, try await flags.current().useStreaming else { return (verdict, false) }
        let changed = try await flags.apply(useStreaming: false, rolloutPercent: nil, by: Self.changedBy, reason: "automatic rollback: " + verdict.reason).changed
        if changed > 0 {
            Counter(label: "outline_streaming_auto_rollbacks_total").increment()
            logger.error("streaming turned off by the automatic rollback", metadata: ["reason": "\(verdict.reason)"])
        }
        return (verdict, changed > 0)
    }

    /// The window's figures, from the read model: sessions that ended (completed
    /// or failed; a cancel says nothing of the path) since the later of the
    /// window's start and the last change of `USE_STREAMING`.
    public func judge() async throws -> Verdict {
        let since = try await flags.lastStreamingChange()
        let seconds = settings.window.components.seconds
        let row = try await pool.query(
            """
            WITH bounds AS (SELECT greatest(now() - $1 * interval '1 second', coalesce($2, '-infinity'::timestamptz)) AS since)
            SELECT (SELECT since FROM bounds),
                   count(*) FILTER (WHERE mode = 'streaming'), count(*) FILTER (WHERE mode = 'streaming' AND status = 'failed'),
                   count(*) FILTER (WHERE mode = 'polling'), count(*) FILTER (WHERE mode = 'polling' AND status = 'failed')
              FROM outline_session_rows
             WHERE NOT is_active AND status IN ('completed', 'failed') AND completed_at > (SELECT since FROM bounds)
            """,
            seconds, since
        )[0]
        var verdict = Verdict(windowMinutes: Int(seconds / 60), since: try row.decode(Date.self, at: 0),
                              streamingSessions: try row.decode(Int64.self, at: 1), streamingFailed: try row.decode(Int64.self, at: 2),
                              pollingSessions: try row.decode(Int64.self, at: 3), pollingFailed: try row.decode(Int64.self, at: 4),
                              pollingBaseline: "window", streamingRate: 0, pollingRate: 0, gapPoints: 0, thresholdPoints: settings.thresholdPoints,
                              minimumSessions: settings.minimumSessions, judged: false, tripped: false)
        if verdict.pollingSessions < Int64(settings.minimumSessions) {
            // Too few polled sessions to compare with: polling's rate over the last week, or none.
            let week = try await pool.query(
                """
                SELECT count(*), count(*) FILTER (WHERE status = 'failed') FROM outline_session_rows
                 WHERE mode = 'polling' AND NOT is_active AND status IN ('completed', 'failed') AND completed_at > now() - interval '7 days'
                """
            )[0]
            let sessions = try week.decode(Int64.self, at: 0)
            if sessions >= Int64(settings.minimumSessions) {
                verdict.pollingSessions = sessions
                verdict.pollingFailed = try week.decode(Int64.self, at: 1)
                verdict.pollingBaseline = "week"
            } else {
                verdict.pollingBaseline = "none"
                verdict.pollingSessions = 0
                verdict.pollingFailed = 0
            }
        }
        verdict.streamingRate = verdict.streamingSessions == 0 ? 0 : Double(verdict.streamingFailed) / Double(verdict.streamingSessions)
        verdict.pollingRate = verdict.pollingSessions == 0 ? 0 : Double(verdict.pollingFailed) / Double(verdict.pollingSessions)
        verdict.gapPoints = (verdict.streamingRate - verdict.pollingRate) * 100
        verdict.judged = verdict.streamingSessions >= Int64(settings.minimumSessions)
        verdict.tripped = verdict.judged && verdict.gapPoints > settings.thresholdPoints
        return verdict
    }

    /// `outline_failure_rate{mode}`, `outline_failure_rate_gap_points` and
    /// `outline_streaming_rollback_tripped` (1 when the window says roll back).
    static func record(_ verdict: Verdict) {
        Gauge(label: "outline_failure_rate", dimensions: [("mode", "streaming")]).record(verdict.streamingRate)
        Gauge(label: "outline_failure_rate", dimensions: [("mode", "polling")]).record(verdict.pollingRate)
        Gauge(label: "outline_failure_rate_gap_points").record(verdict.gapPoints)
        Gauge(label: "outline_rollback_threshold_points").record(verdict.thresholdPoints)
        Gauge(label: "outline_streaming_rollback_tripped").record(verdict.tripped ? 1 : 0)
    }
}
