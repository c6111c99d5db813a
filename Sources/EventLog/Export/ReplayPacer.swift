import Foundation
import OutlineBasics

/// Paces a replay of recorded events: waits so that event gaps are reproduced
/// at `speed` × (1 = as they happened, 10 = ten times faster, 0 = no waiting).
/// Used by `outline-admin replay` and the replay stream of the API.
public struct ReplayPacer: Sendable {
    public let speed: Double
    private var first: Date?
    private var started: ContinuousClock.Instant?

    /// The speeds a replay accepts: 0 (no waiting) or `minimumSpeed...maximumSpeed`.
    /// Slower than `minimumSpeed` a 15-minute session would take days to play.
    public static let minimumSpeed = 0.01
    public static let maximumSpeed = 1000.0
    /// No event is scheduled further than this from the playback's start, whatever
    /// the recorded times say (a clock step or a forged timestamp cannot park a
    /// playback, or overflow the clock's arithmetic).
    public static let longestPlayback: Duration = .seconds(7 * 86_400)

    /// Whether `speed` is one a replay accepts (finite, 0 or in range).
    public static func accepts(speed: Double) -> Bool {
        speed == 0 || (speed >= minimumSpeed && speed <= maximumSpeed)
    }

    /// `speed` outside `accepts(speed:)` is played at once (0): a pacer never traps.
    public init(speed: Double) {
        self.speed = Self.accepts(speed: speed) ? speed : 0
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
        return started + .seconds(clamping: time.timeIntervalSince(first) / speed, to: .zero ... Self.longestPlayback)
    }

    /// `mm:ss.mmm`
    public static func format(_ seconds: TimeInterval) -> String {
        let milliseconds = seconds.isFinite ? Int((min(max(seconds, 0), 1e12) * 1000).rounded()) : 0
        return String(format: "%02d:%02d.%03d", milliseconds / 60_000, (milliseconds / 1000) % 60, milliseconds % 1000)
    }
}
