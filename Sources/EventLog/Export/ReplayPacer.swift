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
        guard let first, let started else {
            self.first = time
            self.started = .now
            return
        }
        guard speed > 0 else { return }
        let due = started + .milliseconds(Int64(time.timeIntervalSince(first) / speed * 1000))
        if due > .now { try await Task.sleep(until: due, clock: .continuous) }
    }

    /// `mm:ss.mmm`
    public static func format(_ seconds: TimeInterval) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        return String(format: "%02d:%02d.%03d", milliseconds / 60_000, (milliseconds / 1000) % 60, milliseconds % 1000)
    }
}
