/// How far a read-model rebuild has read the log, for a progress bar.
public struct RebuildProgress: Sendable {
    public var eventsRead: Int64
    public var eventsTotal: Int64
    public var elapsed: Double
    public var eventsPerSecond: Double { elapsed > 0 ? Double(eventsRead) / elapsed : 0 }
    public var secondsLeft: Double? {
        eventsPerSecond > 0 ? Double(max(0, eventsTotal - eventsRead)) / eventsPerSecond : nil
    }

    public init(eventsRead: Int64, eventsTotal: Int64, elapsed: Double) {
        self.eventsRead = eventsRead
        self.eventsTotal = eventsTotal
        self.elapsed = elapsed
    }
}
