import Foundation

/// What one user may spend and hold at once. A deep-research run costs real
/// money and runs for 15+ minutes, so a careless script or a stolen token must
/// hit a ceiling before the provider bill does. Operators set these from the
/// environment; the database enforces them across every instance.
public struct UsageLimits: Sendable, Equatable {
    /// Sessions a user may have active at once (`OUTLINE_LIMIT_ACTIVE_SESSIONS`).
    public var activeSessionsPerUser: Int
    /// New sessions (each becomes one research run) per rolling hour (`OUTLINE_LIMIT_STARTS_PER_HOUR`).
    public var startsPerUserPerHour: Int
    /// New sessions per rolling day (`OUTLINE_LIMIT_STARTS_PER_DAY`).
    public var startsPerUserPerDay: Int
    /// Workflows a user may create per rolling hour (`OUTLINE_LIMIT_NEW_WORKFLOWS_PER_HOUR`).
    public var newWorkflowsPerUserPerHour: Int
    /// Open SSE and replay connections per user, across this instance (`OUTLINE_LIMIT_STREAMS`).
    public var openStreamsPerUser: Int

    public init(activeSessionsPerUser: Int = 3, startsPerUserPerHour: Int = 20, startsPerUserPerDay: Int = 100,
                newWorkflowsPerUserPerHour: Int = 30, openStreamsPerUser: Int = 20) {
        self.activeSessionsPerUser = activeSessionsPerUser
        self.startsPerUserPerHour = startsPerUserPerHour
        self.startsPerUserPerDay = startsPerUserPerDay
        self.newWorkflowsPerUserPerHour = newWorkflowsPerUserPerHour
        self.openStreamsPerUser = openStreamsPerUser
    }

    /// Each limit by the name it has in refusals, metrics and the admin page.
    public var named: [(name: String, value: Int)] {
        [("active_sessions", activeSessionsPerUser), ("starts_per_hour", startsPerUserPerHour), ("starts_per_day", startsPerUserPerDay),
         ("new_workflows_per_hour", newWorkflowsPerUserPerHour), ("open_streams", openStreamsPerUser)]
    }
}
