import Foundation

/// Paces a replay of recorded events: waits so that event gaps are reproduced
/// at `speed` × (1 = as they happened, 10 = ten times faster, 0 = no waiting).
/// Used by `outline-admin replay` and the replay stream of the API.
public struct ReplayPacer: Sendable {
    public let speed: Double
    private var first: Date?
    private var started: ContinuousClock.Instant?

    public init(speed: Double) {
        self.speed = speed
    }

    /// Seconds between the first event seen and `time`.
    public func offset(of time: Date) -> TimeInterval {
        first.map { time.timeIntervalSince($0) } ?? 0
    }

    /// Waits until the event recorded at `time` is due.
    public mutating func wait(until time: Date) async throws {
        if let due = due(time), due > .now { try await Task.sleep(until: due, clock: .continuous) }
    }

    /// When the event recorded at `time` is due (nil: at once). The first event
    /// seen starts the clock. For callers that must do something while waiting.
    public mutating func due(_ time: Date) -> ContinuousClock.Instant? {
        guard let first, let started else {
            self.first = time
            self.started = .now
            return nil
        }
        guard speed > 0 else { return nil }
        return started + .milliseconds(Int64(time.timeIntervalSince(first) / speed * 1000))
    }

    /// `mm:ss.mmm`
    public static func format(_ seconds: TimeInterval) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        return String(format: "%02d:%02d.%03d", milliseconds / 60_000, (milliseconds / 1000) % 60, milliseconds % 1000)
    }
}
