import Foundation
import OpenAIResponses
import SessionRunner

/// Everything an instance is configured with, read from the environment by
/// `fromEnvironment` (flags of the executable override it). Defaults are the
/// embedded development setup.
public struct ServiceConfiguration: Sendable {
    /// HS256 secret for bearer and stream tokens (`OUTLINE_TOKEN_SECRET`).
    public var tokenSecret: String
    /// `USE_STREAMING`: the default when no value is stored in the database.
    public var useStreaming: Bool
    /// `STREAMING_ROLLOUT_PERCENT`: the default rollout when none is stored.
    public var rolloutPercent: Int
    public var provider: ResponsesConfiguration
    public var runner: SessionRunner.Settings
    public var streamTokenLifetime: TimeInterval
    public var hub: LiveEventHub.Settings
    /// How long a runner's lease lives without a renewal (`OUTLINE_LEASE_MS`):
    /// the longest a dead instance's sessions wait for an adopter, at most.
    public var leaseTimeToLive: Duration
    /// How often an instance looks for sessions whose lease expired
    /// (`OUTLINE_ADOPTION_INTERVAL_MS`). Failover takes at most lease + interval.
    public var adoptionInterval: Duration
    public var flagRefreshInterval: Duration
    /// This instance's name in leases and logs.
    public var instanceName: String
    /// What one user may spend and hold (enforced by the database across instances).
    public var limits: UsageLimits = UsageLimits()
    /// What a user and a workflow may spend per period (`OUTLINE_BUDGET_*`).
    public var budgets: SpendingBudgets = SpendingBudgets()
    /// The provider's webhook secrets (`OPENAI_WEBHOOK_SECRET`, several separated
    /// by spaces or commas while rotating). Empty: no webhooks, the runner polls.
    public var webhookSecrets: [StandardWebhook.Secret] = []
    /// When streaming turns itself off (`OUTLINE_ROLLBACK_*`).
    public var rollback = AutomaticRollback.Settings()
    /// How far a webhook's timestamp may be from now (`OUTLINE_WEBHOOK_TOLERANCE_SECONDS`).
    public var webhookToleranceSeconds: Int64 = 300
    /// How long an HTTP connection may sit with no request in flight before it
    /// is closed (`OUTLINE_HTTP_IDLE_TIMEOUT_SECONDS`); streams in progress are not idle.
    public var httpIdleTimeout: Duration = .seconds(60)
    /// The database's bounds (`OUTLINE_DB_*`): pool checkout, statements, connects.
    public var database: DatabaseBounds = DatabaseBounds()
    /// The allocator's arenas and how often free memory goes back to the system
    /// (`OUTLINE_MALLOC_ARENAS`, `OUTLINE_HEAP_TRIM_SECONDS`); applied by the executable.
    public var heap = HeapTrimmer.Settings()
    /// The background compaction of finished sessions into segments.
    public var compaction = CompactionService.Settings()
    /// How long a read sent to the standby (`DATABASE_READ_URL`) waits for it to
    /// replay what the client must see before the primary answers (`OUTLINE_REPLICA_PATIENCE_MS`).
    public var replicaPatience: Duration = .milliseconds(500)
    /// The torture pass's fault hook (`OUTLINE_FAULT_COMMIT_PAUSE_FILE`): creating
    /// this file makes the next group-commit batch hold its transaction open for
    /// 10 s (rows written, not committed), so the test can kill the instance inside it. Never set in production.
    public var faultCommitPauseFile: String?

    public init(tokenSecret: String, useStreaming: Bool = true, rolloutPercent: Int = 100, provider: ResponsesConfiguration = ResponsesConfiguration(),
                runner: SessionRunner.Settings = SessionRunner.Settings(), streamTokenLifetime: TimeInterval = 3600, hub: LiveEventHub.Settings = LiveEventHub.Settings(),
                leaseTimeToLive: Duration = .seconds(30), adoptionInterval: Duration = .seconds(10), flagRefreshInterval: Duration = .seconds(2),
                instanceName: String = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))") {
        self.tokenSecret = tokenSecret
        self.useStreaming = useStreaming
        self.rolloutPercent = rolloutPercent
        self.provider = provider
        self.runner = runner
        self.streamTokenLifetime = streamTokenLifetime
        self.hub = hub
        self.leaseTimeToLive = leaseTimeToLive
        self.adoptionInterval = adoptionInterval
        self.flagRefreshInterval = flagRefreshInterval
        self.instanceName = instanceName
    }

    public enum Problem: Error, CustomStringConvertible {
        case invalid(String, String)
        public var description: String {
            switch self {
            case .invalid(let name, let message): "\(name): \(message)"
            }
        }
    }

    /// Reads `OUTLINE_TOKEN_SECRET`, `USE_STREAMING`, `STREAMING_ROLLOUT_PERCENT`,
    /// the provider's `OPENAI_BASE_URL` / `OPENAI_API_KEY`, the stream settings
    /// `OUTLINE_HEARTBEAT_SECONDS`, `OUTLINE_SSE_BUFFER_BYTES`, `OUTLINE_STREAM_TOKEN_SECONDS`,
    /// and the usage limits `OUTLINE_LIMIT_*` (README, "Security and limits").
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceConfiguration {
        guard let secret = environment["OUTLINE_TOKEN_SECRET"], !secret.isEmpty else {
            throw Problem.invalid("OUTLINE_TOKEN_SECRET", "set it to a secret of at least 32 characters (tokens are signed with it)")
        }
        guard secret.utf8.count >= 32 else { throw Problem.invalid("OUTLINE_TOKEN_SECRET", "must be at least 32 characters") }
        var configuration = ServiceConfiguration(tokenSecret: secret, provider: ResponsesConfiguration.fromEnvironment(environment))
        let reader = EnvironmentReader(environment: environment)
        if let value = try reader.boolean("USE_STREAMING") { configuration.useStreaming = value }
        if let value = try reader.integer("STREAMING_ROLLOUT_PERCENT", in: 0...100, unit: "percent") { configuration.rolloutPercent = value }
        if let value = try reader.integer("OUTLINE_SSE_BUFFER_BYTES", in: 1024...(256 << 20), unit: "bytes") { configuration.hub.bufferLimit = value }
        if let value = try reader.integer("OUTLINE_STREAM_TOKEN_SECONDS", in: 60...86_400, unit: "seconds") { configuration.streamTokenLifetime = TimeInterval(value) }
        if let value = try reader.seconds("OUTLINE_HEARTBEAT_SECONDS", in: 1...3600) { configuration.hub.heartbeat = value }
        if let value = try reader.integer("OUTLINE_SSE_WRITE_TIMEOUT_SECONDS", in: 1...3600, unit: "seconds") { configuration.hub.writeTimeout = .seconds(Int64(value)) }
        if let value = try reader.seconds("OUTLINE_HTTP_IDLE_TIMEOUT_SECONDS", in: 1...3600) { configuration.httpIdleTimeout = value }
        if let value = try reader.integer("OUTLINE_DB_CHECKOUT_TIMEOUT_MS", in: 10...600_000, unit: "milliseconds") { configuration.database.checkoutTimeout = .milliseconds(value) }
        if let value = try reader.integer("OUTLINE_DB_STATEMENT_TIMEOUT_MS", in: 100...3_600_000, unit: "milliseconds") { configuration.database.statementTimeoutMilliseconds = value }
        if let value = try reader.integer("OUTLINE_DB_CONNECT_TIMEOUT_SECONDS", in: 1...600, unit: "seconds") { configuration.database.connectTimeoutSeconds = value }
        if let value = try reader.integer("OUTLINE_REPLICA_PATIENCE_MS", in: 0...60_000, unit: "milliseconds") { configuration.replicaPatience = .milliseconds(value) }
        if let value = try reader.seconds("OUTLINE_PROVIDER_STALL_SECONDS", in: 1...3600) { configuration.provider.stallTimeout = value }
        if let value = try reader.integer("OUTLINE_LEASE_MS", in: 1000...3_600_000, unit: "milliseconds") { configuration.leaseTimeToLive = .milliseconds(value) }
        if let value = try reader.integer("OUTLINE_ADOPTION_INTERVAL_MS", in: 100...3_600_000, unit: "milliseconds") {
            guard Duration.milliseconds(value) <= configuration.leaseTimeToLive else {
                throw Problem.invalid("OUTLINE_ADOPTION_INTERVAL_MS", "must not exceed the lease lifetime (OUTLINE_LEASE_MS, \(configuration.leaseTimeToLive)): a dead runner's sessions would wait longer than its lease")
            }
            configuration.adoptionInterval = .milliseconds(value)
        } else {
            // A short lease alone shortens the default interval with it.
            configuration.adoptionInterval = min(configuration.adoptionInterval, configuration.leaseTimeToLive)
        }
        if let path = environment["OUTLINE_FAULT_COMMIT_PAUSE_FILE"], !path.isEmpty { configuration.faultCommitPauseFile = path }
        if let value = try reader.integer("OUTLINE_MALLOC_ARENAS", in: 0...64) { configuration.heap.arenas = value }
        if let value = try reader.integer("OUTLINE_HEAP_TRIM_SECONDS", in: 0...86_400, unit: "seconds") {
            configuration.heap.trimInterval = value == 0 ? nil : .seconds(value)
        }
        if let value = try reader.integer("OUTLINE_COMPACTION_INTERVAL_SECONDS", in: 0...86_400, unit: "seconds") {
            configuration.compaction.interval = value == 0 ? nil : .seconds(value)
        }
        if let value = try reader.seconds("OUTLINE_COMPACTION_SETTLE_SECONDS", in: 0...31_536_000) { configuration.compaction.settle = value }
        if let value = try reader.integer("OUTLINE_COMPACTION_PACK_SESSIONS", in: 1...256) { configuration.compaction.packSessions = value }
        if let value = try reader.seconds("OUTLINE_COMPACTION_PACK_WAIT_SECONDS", in: 0...31_536_000) { configuration.compaction.packWait = value }
        if let value = try reader.integer("OUTLINE_LIMIT_ACTIVE_SESSIONS", in: 1...10_000) { configuration.limits.activeSessionsPerUser = value }
        if let value = try reader.integer("OUTLINE_LIMIT_STARTS_PER_HOUR", in: 1...100_000) { configuration.limits.startsPerUserPerHour = value }
        if let value = try reader.integer("OUTLINE_LIMIT_STARTS_PER_DAY", in: 1...1_000_000) { configuration.limits.startsPerUserPerDay = value }
        if let value = try reader.integer("OUTLINE_LIMIT_NEW_WORKFLOWS_PER_HOUR", in: 1...100_000) { configuration.limits.newWorkflowsPerUserPerHour = value }
        if let value = try reader.integer("OUTLINE_LIMIT_STREAMS", in: 1...10_000) { configuration.limits.openStreamsPerUser = value }
        if let value = try reader.dollars("OUTLINE_BUDGET_USER_USD", allowNone: true) { configuration.budgets.perUser = value }
        if let value = try reader.dollars("OUTLINE_BUDGET_WORKFLOW_USD", allowNone: true) { configuration.budgets.perWorkflow = value }
        if let value = try reader.choice("OUTLINE_BUDGET_PERIOD", from: SpendingBudgets.Period.allCases.map(\.rawValue)) {
            configuration.budgets.period = SpendingBudgets.Period(rawValue: value)!
        }
        if let value = try reader.dollars("OUTLINE_BUDGET_START_RESERVE_USD", allowNone: false) { configuration.budgets.startReserve = value ?? 0 }
        if let value = try reader.integer("OUTLINE_BUDGET_HARD_CAP_PERCENT", in: 100...1000, unit: "percent") { configuration.budgets.hardCapPercent = value }
        if let json = environment["OUTLINE_PRICES"] {
            do {
                configuration.runner.prices = try PriceTable.parse(json)
            } catch {
                throw Problem.invalid("OUTLINE_PRICES", "\(error)")
            }
        }
        if let text = environment["OPENAI_WEBHOOK_SECRET"], !text.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                configuration.webhookSecrets = try text.split(whereSeparator: { $0 == " " || $0 == "," }).map { try StandardWebhook.Secret(String($0)) }
            } catch {
                throw Problem.invalid("OPENAI_WEBHOOK_SECRET", "\(error)")
            }
            configuration.runner.webhookFallbackPollInterval = .seconds(300)
        }
        if let value = try reader.seconds("OUTLINE_WEBHOOK_FALLBACK_POLL_SECONDS", in: 1...86_400), !configuration.webhookSecrets.isEmpty {
            configuration.runner.webhookFallbackPollInterval = value
        }
        if let value = try reader.integer("OUTLINE_WEBHOOK_TOLERANCE_SECONDS", in: 1...3600, unit: "seconds") { configuration.webhookToleranceSeconds = Int64(value) }
        if let value = try reader.boolean("OUTLINE_ROLLBACK_ENABLED") { configuration.rollback.enabled = value }
        if let value = try reader.integer("OUTLINE_ROLLBACK_WINDOW_MINUTES", in: 1...10_080, unit: "minutes") { configuration.rollback.window = .seconds(value * 60) }
        if let value = try reader.integer("OUTLINE_ROLLBACK_MIN_SESSIONS", in: 1...100_000) { configuration.rollback.minimumSessions = value }
        if let value = try reader.integer("OUTLINE_ROLLBACK_THRESHOLD_POINTS", in: 0...100, unit: "percentage points") { configuration.rollback.thresholdPoints = Double(value) }
        if let value = try reader.seconds("OUTLINE_ROLLBACK_INTERVAL_SECONDS", in: 1...3600) { configuration.rollback.interval = value }
        if let value = try reader.integer("OUTLINE_SPENDING_CHECK_MS", in: 0...3_600_000, unit: "milliseconds") {
            configuration.runner.spendingCheckInterval = .milliseconds(value)
        }
        return configuration
    }
}
