import Metrics

extension Timer {
    /// Records a Swift `Duration` (the clock the code measures with).
    public func record(duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
