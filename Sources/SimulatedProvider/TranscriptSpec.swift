/// The shape of a simulated deep-research run: how much it searches, thinks and
/// writes, how fast, and how it goes wrong.
public struct TranscriptSpec: Sendable, Equatable {
    public var seed: UInt64
    public var webSearches: Int
    public var reasoningSummaries: Int
    /// Characters (Unicode scalars) of outline text, about.
    public var outputLength: Int
    /// Characters per output text delta.
    public var deltaSize: Int
    /// Time between two events of the stream.
    public var pace: Duration
    /// When set, the whole run takes about this long: the pace is derived from it
    /// and the number of events (the way to simulate a 15-minute deep research).
    public var totalDuration: Duration?
    /// A recorded stream (its `data:` payloads) to serve instead of a generated one.
    public var recorded: [String]?
    /// Content an attacker would put in a provider's answer: HTML and script in
    /// text and titles, `javascript:`/`data:` citation URLs, right-to-left
    /// overrides, a very long unbroken line. For proving the page renders it as text.
    public var hostile = false

    public init(seed: UInt64 = 1, webSearches: Int = 4, reasoningSummaries: Int = 3, outputLength: Int = 2000, deltaSize: Int = 12,
                pace: Duration = .milliseconds(5)) {
        self.seed = seed
        self.webSearches = webSearches
        self.reasoningSummaries = reasoningSummaries
        self.outputLength = outputLength
        self.deltaSize = max(1, deltaSize)
        self.pace = pace
        self.recorded = nil
        self.totalDuration = nil
    }
}
