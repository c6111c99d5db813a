import Metrics
import Prometheus

/// The test process's one Prometheus registry. swift-metrics binds a metric to
/// the factory in force when the metric is made, and the libraries keep some as
/// statics (the runner's time to first content, the hub's stages): a test that
/// touched one before any server bootstrapped the metrics would leave it a no-op
/// for the whole process, and `/metrics` would then miss it in whichever test
/// ran later. So every test database bootstraps this first (`TestDatabase.create`).
public enum TestMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}
