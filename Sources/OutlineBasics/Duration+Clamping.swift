/// Turning a number that came from outside (a query parameter, a header, the
/// environment, a provider field, a difference of two stored timestamps) into a
/// `Duration` without the traps of `Duration.milliseconds(Int64(someDouble))`:
/// that conversion kills the process on NaN, infinity or overflow, and one
/// hostile request would take every stream and run of the instance with it.
extension Duration {
    /// The largest duration these helpers produce: about 292 years, what fits in
    /// Int64 nanoseconds.
    public static let clampingLimitSeconds: Double = 9_000_000_000

    /// `seconds` as a duration, clamped into `range`. NaN becomes the lower bound,
    /// +∞ the upper, −∞ the lower. Never traps.
    public static func seconds(clamping seconds: Double, to range: ClosedRange<Duration>) -> Duration {
        let lower = range.lowerBound.secondsValue, upper = range.upperBound.secondsValue
        guard !seconds.isNaN else { return range.lowerBound }
        if seconds <= lower { return range.lowerBound }
        if seconds >= upper { return range.upperBound }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// `seconds` as a duration between zero and `clampingLimitSeconds`.
    public static func seconds(clamping seconds: Double) -> Duration {
        Self.seconds(clamping: seconds, to: .zero ... .seconds(Int64(clampingLimitSeconds)))
    }

    /// The duration in seconds, as a Double (for arithmetic and display).
    public var secondsValue: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Whole nanoseconds, saturating at Int64's bounds instead of trapping (for
    /// metrics that record nanoseconds).
    public var saturatingNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflowAdding) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflowAdding { return seconds < 0 ? .min : .max }
        return total
    }
}

extension Double {
    /// Seconds as whole nanoseconds, clamped to Int64 (NaN is 0): for metrics that
    /// record a time difference, which a clock step or a bad timestamp can make huge.
    public var clampedNanoseconds: Int64 {
        guard !isNaN else { return 0 }
        let nanoseconds = self * 1e9
        if nanoseconds >= 9.2e18 { return .max }
        if nanoseconds <= -9.2e18 { return .min }
        return Int64(nanoseconds)
    }
}
