import Foundation
import OTel
import ServiceLifecycle
import Tracing

/// OpenTelemetry traces, exported by OTLP/HTTP: off unless an endpoint is
/// configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), so a default install sends nothing
/// anywhere. The other `OTEL_*` variables tune it as the OpenTelemetry
/// specification says (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`,
/// `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_TRACES_SAMPLER`, `OTEL_SERVICE_NAME`, ...).
/// Metrics stay on Prometheus and logs on standard error, with the trace and
/// span ids in every line written inside a span.
enum TraceExport {
    static func bootstrap(environment: [String: String]) throws -> (any Service)? {
        let endpoints = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].filter { !(environment[$0] ?? "").isEmpty }
        guard !endpoints.isEmpty else { return nil }
        try validate(environment, endpoints: endpoints)
        var configuration = OTel.Configuration.default
        configuration.serviceName = "outline-server"
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(tracer)
        return service
    }

    /// swift-otel logs an invalid value and keeps its default; a server told to
    /// send its traces somewhere should rather refuse to start than send them
    /// elsewhere or in a form its collector cannot read. gRPC is not built in.
    static func validate(_ environment: [String: String], endpoints: [String]) throws {
        for key in endpoints {
            let value = environment[key] ?? ""
            guard let url = URL(string: value), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false else {
                throw InvalidSetting(key: key, value: value, expected: "an http:// or https:// URL")
            }
        }
        for key in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] {
            guard let value = environment[key], !value.isEmpty else { continue }
            guard ["http/protobuf", "http/json"].contains(value) else {
                throw InvalidSetting(key: key, value: value, expected: "http/protobuf or http/json (this build exports over HTTP only)")
            }
        }
    }

    struct InvalidSetting: Error, CustomStringConvertible {
        var key: String, value: String, expected: String
        var description: String { "\(key)=\(value.debugDescription) is not valid: use \(expected)" }
    }
}
