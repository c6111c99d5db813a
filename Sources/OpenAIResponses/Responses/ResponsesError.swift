import Foundation

/// Failures talking to the Responses API, in terms the runner can act on.
public enum ResponsesError: Error, Equatable, CustomStringConvertible {
    /// The provider answered with an HTTP error; `retryable` for 429 and 5xx.
    case http(status: Int, code: String?, message: String, retryAfterSeconds: Double?)
    /// The connection failed or dropped (retry, or resume the stream).
    case transport(String)
    /// No bytes arrived for longer than the stall timeout (resume the stream).
    case stalled(seconds: Double)
    /// The provider sent something that is not what its API says.
    case malformedEvent(String)

    public var isRetryable: Bool {
        switch self {
        case .http(let status, _, _, _): status == 429 || status >= 500
        case .transport, .stalled: true
        case .malformedEvent: false
        }
    }

    public var description: String {
        switch self {
        case .http(let status, let code, let message, _): "provider answered HTTP \(status)\(code.map { " (\($0))" } ?? ""): \(message)"
        case .transport(let why): "cannot reach the provider: \(why)"
        case .stalled(let seconds): "the provider's stream sent nothing for \(seconds.formatted(.number.precision(.fractionLength(0...1)))) s"
        case .malformedEvent(let why): "the provider sent a malformed event: \(why)"
        }
    }
}
