import Metrics
import OutlineBasics

/// The migration plan's other rollback triggers, as figures against thresholds
/// (this instance, last hour, from `LiveSignals`): content the stream missed
/// and polling recovered ("users reporting missing content"), one-active
/// session refusals and constraint errors ("database constraint problems"),
/// time to first content (the 30-second success metric), and append and SSE
/// delivery latency ("performance degradation"). They alert; the failure rate
/// alone turns streaming off (`AutomaticRollback`), since each of these has
/// causes a rollback would not cure.
struct RollbackTriggers: Encodable, Sendable {
    struct Trigger: Encodable, Sendable {
        var signal: String
        var value: Double
        var threshold: Double
        var unit: String
        /// Samples or occurrences the value stands on.
        var samples: Int
        var breached: Bool
    }
    var triggers: [Trigger]

    static func read(_ signals: LiveSignals = .shared) -> RollbackTriggers {
        var triggers: [Trigger] = []
        func latency(_ name: String, _ latency: LiveSignals.Latency, _ quantile: KeyPath<(count: Int, p50: Double, p95: Double, p99: Double), Double>,
                     threshold: Double, unit: String = "seconds") {
            let q = signals.quantiles(latency)
            triggers.append(Trigger(signal: name, value: q[keyPath: quantile], threshold: threshold, unit: unit, samples: q.count,
                                    breached: q.count > 0 && q[keyPath: quantile] > threshold))
        }
        func occurrences(_ occurrence: LiveSignals.Occurrence, threshold: Double) {
            let total = signals.total(occurrence)
            triggers.append(Trigger(signal: occurrence.rawValue + "_per_hour", value: Double(total), threshold: threshold, unit: "per hour", samples: total,
                                    breached: Double(total) > threshold))
        }
        latency("time_to_first_content_p50", .timeToFirstContent, \.p50, threshold: 30)
        latency("time_to_first_content_p95", .timeToFirstContent, \.p95, threshold: 30)
        latency("append_p99", .append, \.p99, threshold: 0.05)
        latency("delivery_p99", .delivery, \.p99, threshold: 0.05)
        occurrences(.missingContent, threshold: 0)
        occurrences(.constraintErrors, threshold: 0)
        occurrences(.activeSessionRefusals, threshold: 100)
        return RollbackTriggers(triggers: triggers)
    }

    /// `outline_trigger_value{signal}`, `outline_trigger_threshold{signal}`, `outline_trigger_breached{signal}`.
    func record() {
        for trigger in triggers {
            Gauge(label: "outline_trigger_value", dimensions: [("signal", trigger.signal)]).record(trigger.value)
            Gauge(label: "outline_trigger_threshold", dimensions: [("signal", trigger.signal)]).record(trigger.threshold)
            Gauge(label: "outline_trigger_breached", dimensions: [("signal", trigger.signal)]).record(trigger.breached ? 1 : 0)
        }
    }
}
