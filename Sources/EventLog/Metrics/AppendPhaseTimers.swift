import Metrics

/// One timer per phase of an append's transaction, so `/metrics` shows where the
/// commit stage of the live path goes (issue 12: the budget made visible).
struct AppendPhaseTimers: Sendable {
    let checkout = Self.timer("checkout")
    let heads = Self.timer("heads")
    let projections = Self.timer("projections")
    let function = Self.timer("append_function")
    let commit = Self.timer("commit")
    let resume = Self.timer("resume")

    private static func timer(_ phase: String) -> Timer {
        Timer(label: "outline_append_phase_seconds", dimensions: [("phase", phase)])
    }
}
