import Metrics
import OutlineBasics

extension Timer {
    /// Records a Swift `Duration` (the clock the code measures with).
    public func record(duration: Duration) {
        recordNanoseconds(duration.saturatingNanoseconds)
    }
}
