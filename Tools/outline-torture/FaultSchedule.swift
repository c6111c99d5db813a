/// A reproducible random source: the run prints its seed, and the same seed
/// gives the same schedule (SplitMix64).
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What the torture run does to the system, and when.
enum Fault: Sendable, CustomStringConvertible {
    /// SIGKILL an instance; it restarts after `restartAfter`.
    case killInstance(Int, restartAfter: Duration)
    /// `pg_ctl restart -m immediate`: PostgreSQL crashes and recovers.
    case crashDatabase
    /// Every provider connection drops.
    case cutProvider
    /// The provider goes silent for a while.
    case stallProvider(Duration)
    /// A session is started while the provider is silent; its instance is
    /// killed once the log shows `provider.request_started` and before
    /// `provider.response_accepted` can arrive.
    case killBetweenRequestAndAcceptance
    /// A session is started while the provider is silent; its instance is
    /// killed during preparation (after `session.started`, before research).
    case killDuringPreparation
    /// An instance is killed; the adopter is killed as soon as it holds the lease.
    case killDuringAdoption
    /// `outline-admin projections rebuild --swap` is killed mid-run.
    case killProjectionRebuild(after: Duration)
    /// An instance is killed while a group-commit batch holds its transaction
    /// open (rows written, not committed): the server's
    /// `OUTLINE_FAULT_COMMIT_PAUSE_FILE` hook pauses it there on request.
    case killInsideCommitBatch

    var description: String {
        switch self {
        case .killInstance(let index, let pause): "SIGKILL instance \(index), restart after \(pause)"
        case .crashDatabase: "PostgreSQL crash (pg_ctl restart -m immediate)"
        case .cutProvider: "cut every provider connection"
        case .stallProvider(let duration): "provider silent for \(duration)"
        case .killBetweenRequestAndAcceptance: "SIGKILL between provider.request_started and provider.response_accepted"
        case .killDuringPreparation: "SIGKILL during preparation"
        case .killDuringAdoption: "SIGKILL the adopter during adoption"
        case .killProjectionRebuild(let after): "SIGKILL a projection rebuild with swap after \(after)"
        case .killInsideCommitBatch: "SIGKILL inside a group-commit batch (rows written, not committed)"
        }
    }

    /// `count` faults: the windows that matter once each, then random ones,
    /// shuffled, with pauses between them.
    static func schedule(count: Int, using random: inout SeededRandom) -> [(pause: Duration, fault: Fault)] {
        var faults: [Fault] = [.killBetweenRequestAndAcceptance, .killDuringPreparation, .killDuringAdoption, .crashDatabase, .killInsideCommitBatch,
                               .killProjectionRebuild(after: .milliseconds(Int.random(in: 20...150, using: &random)))]
        while faults.count < count {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<45: faults.append(.killInstance(Int.random(in: 0...1, using: &random), restartAfter: .milliseconds(Int.random(in: 200...2000, using: &random))))
            case 45..<60: faults.append(.crashDatabase)
            case 60..<80: faults.append(.cutProvider)
            default: faults.append(.stallProvider(.milliseconds(Int.random(in: 1500...4000, using: &random))))
            }
        }
        faults.shuffle(using: &random)
        return faults.map { (.milliseconds(Int.random(in: 300...1500, using: &random)), $0) }
    }
}
