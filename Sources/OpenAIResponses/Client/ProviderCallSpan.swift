import Foundation
import ProviderHTTP
import Tracing

/// One HTTP call to the provider as a client span, child of whatever step is
/// running (a preparation, the research run, a resume), with the W3C
/// `traceparent` of that span sent along, so a provider (or a proxy in front
/// of it) that records it joins the session's trace. With no tracer
/// bootstrapped this is the no-op tracer: nothing is added.
enum ProviderCallSpan {
    static func around<T>(_ request: HTTPRequest, _ body: (HTTPRequest, any Span) async throws -> T) async throws -> T {
        let path = URL(string: request.url)?.path ?? ""
        return try await withSpan("provider \(request.method) \(Self.route(path))", ofKind: .client) { span in
            span.attributes["http.request.method"] = request.method
            span.attributes["url.path"] = path
            var request = request
            var carrier = HeaderCarrier()
            InstrumentationSystem.instrument.inject(ServiceContext.current ?? .topLevel, into: &carrier, using: HeaderCarrier.Injector())
            request.headers += carrier.fields
            return try await body(request, span)
        }
    }

    /// The path with response ids folded (`/v1/responses/{id}`): span names stay few.
    static func route(_ path: String) -> String {
        path.split(separator: "/").map { $0.hasPrefix("resp_") || $0.count > 24 ? "{id}" : String($0) }.reduce("") { $0 + "/" + $1 }
    }

    struct HeaderCarrier {
        var fields: [(name: String, value: String)] = []
        struct Injector: Tracing.Injector {
            func inject(_ value: String, forKey key: String, into carrier: inout HeaderCarrier) {
                carrier.fields.append((key, value))
            }
        }
    }
}
