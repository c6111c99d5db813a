import Foundation
import HTTPTypes
import Metrics

/// A refusal because a user reached one of their `UsageLimits`: 429 with a
/// JSON error that names the limit, the current count, the maximum and when it
/// frees (also as `Retry-After`), so a client can back off for the right time.
struct UsageLimitExceeded: Error {
    var limit: String
    var current: Int
    var maximum: Int
    /// Seconds until the count falls below the maximum (at least 1).
    var retryAfterSeconds: Int
    var explanation: String

    var apiError: APIError {
        Counter(label: "outline_limit_refusals_total", dimensions: [("limit", limit)]).increment()
        return APIError(.tooManyRequests, code: "limit_exceeded",
                        message: "\(explanation) (\(current) of \(maximum)); try again in \(retryAfterSeconds) s.",
                        fields: ["limit": limit], numbers: ["current": current, "maximum": maximum, "retryAfterSeconds": retryAfterSeconds],
                        headers: [.retryAfter: "\(retryAfterSeconds)"])
    }
}
