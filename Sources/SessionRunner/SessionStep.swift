import Foundation
import Tracing

/// A session's step as the root of a trace of its own (a preparation, the
/// research run, each resume): a 15-minute run is a few traces an operator can
/// open one at a time, each linked to the one before, all carrying the
/// session id. Spans started inside (provider calls, append transactions) are
/// its children through the task's `ServiceContext`.
public enum SessionStep {
    public static func start(_ name: String, session: UUID, linkedTo previous: ServiceContext?) -> any Span {
        let span = startSpan(name, context: .topLevel, ofKind: .internal)
        span.attributes["outline.session.id"] = session.uuidString.lowercased()
        if let previous { span.addLink(SpanLink(context: previous, attributes: [:])) }
        return span
    }

    /// Runs `body` as the step `name`.
    public static func run<T>(_ name: String, session: UUID, linkedTo previous: ServiceContext?, _ body: () async throws -> T) async throws -> T {
        let span = start(name, session: session, linkedTo: previous)
        defer { span.end() }
        do {
            return try await ServiceContext.withValue(span.context) { try await body() }
        } catch {
            span.recordError(error)
            throw error
        }
    }
}
