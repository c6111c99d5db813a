import Metrics

/// Counters of the streaming routes that are not per-hub.
enum StreamMetrics {
    /// Streams closed because their client stopped reading (write timeout).
    static let slowClientsClosed = Counter(label: "outline_sse_clients_dropped_total", dimensions: [("reason", "write_timeout")])
}
