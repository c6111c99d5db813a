/// A way the simulated provider goes wrong, chosen by configuration for every
/// request or by the `X-Simulated-Fault` header for one (so a test can aim one
/// fault at one call). Several faults are separated by commas.
public enum SimulatedFault: Sendable, Equatable {
    /// Answer 429 with `Retry-After` (seconds) for the next `times` requests of this kind.
    case rateLimited(retryAfter: Double, times: Int)
    /// Answer 500 for the next `times` requests.
    case serverError(times: Int)
    /// Cut the connection after sending `events` stream events.
    case cutAfter(events: Int)
    /// Stop sending (but keep the connection open) for `seconds` after `events` events.
    case stall(afterEvents: Int, seconds: Double)
    /// The response ends `failed`.
    case fail
    /// The response ends `incomplete`.
    case incomplete
    /// A response created with `stream: true` ends `failed`; a background
    /// (polled) one does not: streaming failing where polling works, the case
    /// the automatic rollback watches for.
    case failStreamed
    /// A stream of a response older than `seconds` can no longer be resumed.
    case resumeRefused(afterSeconds: Double)
    /// The response never leaves `queued`.
    case stuckQueued
    /// The run stops before event `events` until the test releases it
    /// (`SimulatedProviderState.release`): progress a test controls, instead of a
    /// race against the wall clock.
    case holdAt(events: Int)
    /// Answer `status` to every request of one kind on an existing response:
    /// `resume` (stream=true), `retrieve`, or `cancel`.
    case refuse(operation: String, status: Int)

    /// Parses `429`, `429:2` (Retry-After), `429:2:3` (3 times), `500`, `500:3`,
    /// `cut-after:K`, `stall:K:S`, `fail`, `fail-streamed`, `incomplete`, `resume-refused-after:S`, `stuck-queued`,
    /// `refuse:resume|retrieve|cancel:STATUS`, `hold-at:K`.
    public static func parse(_ text: String) throws -> [SimulatedFault] {
        try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { item in
            let parts = item.split(separator: ":").map(String.init)
            func number(_ index: Int, default value: Double? = nil) throws -> Double {
                // Bounded, so that Int(...) and durations made from it cannot trap.
                if index < parts.count, let number = Double(parts[index]), number.isFinite, (0...1_000_000).contains(number) { return number }
                if index >= parts.count, let value { return value }
                throw SimulatedFaultError(text: item)
            }
            switch parts[0] {
            case "429": return .rateLimited(retryAfter: try number(1, default: 1), times: Int(try number(2, default: 1)))
            case "500": return .serverError(times: Int(try number(1, default: 1)))
            case "cut-after": return .cutAfter(events: Int(try number(1)))
            case "stall": return .stall(afterEvents: Int(try number(1)), seconds: try number(2))
            case "fail": return .fail
            case "incomplete": return .incomplete
            case "fail-streamed": return .failStreamed
            case "resume-refused-after": return .resumeRefused(afterSeconds: try number(1))
            case "stuck-queued": return .stuckQueued
            case "hold-at": return .holdAt(events: Int(try number(1)))
            case "refuse":
                guard parts.count == 3, ["resume", "retrieve", "cancel"].contains(parts[1]), let status = Int(parts[2]), (400...599).contains(status) else {
                    throw SimulatedFaultError(text: item)
                }
                return .refuse(operation: parts[1], status: status)
            default: throw SimulatedFaultError(text: item)
            }
        }
    }
}

public struct SimulatedFaultError: Error, CustomStringConvertible {
    public var text: String
    public var description: String {
        "unknown fault '\(text)': use 429[:retry-after[:times]], 500[:times], cut-after:K, stall:K:S, fail, fail-streamed, incomplete, resume-refused-after:S, stuck-queued, refuse:resume|retrieve|cancel:STATUS, hold-at:K"
    }
}
