import Foundation
import OutlineBasics

/// Where the Responses API is and how to talk to it. The same client talks to
/// the real API (`https://api.openai.com` with a key) and to the simulated
/// provider on loopback.
public struct ResponsesConfiguration: Sendable, CustomStringConvertible {
    public var baseURL: String
    /// Sent as a bearer token; never logged or printed (see `description`).
    public var apiKey: String?
    public var connectTimeout: Duration
    /// A stream that sends nothing (not even a keep-alive) for this long is
    /// aborted, and the runner resumes it.
    public var stallTimeout: Duration
    /// A stream that delivers no event for this long (keep-alive comments do
    /// not count) is treated as stalled too: a response stuck in the provider's
    /// queue keeps its connection alive but never moves.
    public var eventStallTimeout: Duration
    /// Non-streamed calls (create, retrieve, cancel) give up after this long.
    public var requestTimeout: Duration
    public var retry: RetryPolicy

    public init(baseURL: String = "https://api.openai.com", apiKey: String? = nil, connectTimeout: Duration = .seconds(10),
                stallTimeout: Duration = .seconds(90), eventStallTimeout: Duration = .seconds(300), requestTimeout: Duration = .seconds(60), retry: RetryPolicy = RetryPolicy()) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.eventStallTimeout = eventStallTimeout
        self.requestTimeout = requestTimeout
        self.retry = retry
    }

    /// From `OPENAI_BASE_URL` and `OPENAI_API_KEY`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ResponsesConfiguration {
        ResponsesConfiguration(baseURL: environment["OPENAI_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.openai.com",
                               apiKey: environment["OPENAI_API_KEY"].flatMap { $0.isEmpty ? nil : $0 })
    }

    public var description: String {
        "Responses API at \(baseURL) (key: \(apiKey == nil ? "none" : "set, hidden"))"
    }
}

/// Exponential backoff with jitter, honouring the provider's Retry-After.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration
    /// The fraction of each delay drawn at random (0.2: ±20 %), so many
    /// sessions retrying at once do not hit the provider in step.
    public var jitter: Double

    public init(maxAttempts: Int = 6, initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30), jitter: Double = 0.2) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    public func delay(afterAttempt attempt: Int, retryAfterSeconds: Double? = nil) -> Duration {
        // Retry-After is the provider's word, but a header: NaN, negative or
        // absurd values fall back to the backoff, and it waits 5 minutes at most.
        if let retryAfterSeconds, retryAfterSeconds.isFinite, retryAfterSeconds >= 0 {
            return .seconds(clamping: retryAfterSeconds, to: .zero ... .seconds(300))
        }
        let base = initialDelay.secondsValue, cap = max(0, maxDelay.secondsValue)
        let exponential = min(cap, base * pow(2, Double(min(max(0, attempt - 1), 62))))
        let spread = jitter.isFinite ? abs(exponential * min(jitter, 1)) : 0
        let seconds = exponential + Double.random(in: -spread...spread)
        return .seconds(clamping: seconds, to: .zero ... max(.zero, maxDelay) + .seconds(clamping: spread))
    }
}
