import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fault-injection point for the torture pass (`outline-torture`), never set
/// in production: it lets a test SIGKILL an instance while a group-commit batch
/// is inside its transaction (rows written, not committed), a window too short
/// to hit by chance on purpose.
///
/// Armed by creating `armFile`; the next batch of at least `minimumSessions`
/// sessions consumes it (unlink is atomic: one batch per arming), says so on
/// standard error, and holds its transaction open for `pause` on the
/// connection's own thread before committing, or until `releaseFile` appears
/// (a test decides when the pause ends instead of racing a clock).
public struct CommitPauseHook: Sendable {
    public let armFile: String
    public let minimumSessions: Int
    public let pause: Duration

    /// Creating this ends a pause early (`armFile` + ".release").
    public var releaseFile: String { armFile + ".release" }

    public init(armFile: String, minimumSessions: Int = 2, pause: Duration = .seconds(10)) {
        self.armFile = armFile
        self.minimumSessions = minimumSessions
        self.pause = pause
    }

    /// Called inside a batch's transaction, after its rows are written, before COMMIT.
    func beforeCommit(events: Int, sessions: Int) {
        guard sessions >= minimumSessions, unlink(armFile) == 0 else { return }
        FileHandle.standardError.write(Data("fault hook: a group-commit batch of \(events) events of \(sessions) sessions is paused before its commit\n".utf8))
        let end = ContinuousClock.now + pause
        while ContinuousClock.now < end, access(releaseFile, F_OK) != 0 {
            var tick = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            _ = nanosleep(&tick, nil)
        }
        unlink(releaseFile)
    }
}
