import Foundation
import Tracing

/// An append transaction as a span, child of the step that appends (the start
/// request, a preparation, the research run): how long its events waited for
/// their commit and how many there were. The no-op tracer makes it free when
/// tracing is off.
public enum AppendSpan {
    public static func around<T>(session: UUID, events: Int, firstSequence: Int32, _ body: () async throws -> T) async throws -> T {
        try await withSpan("event_log.append", ofKind: .internal) { span in
            span.attributes["outline.session.id"] = session.uuidString.lowercased()
            span.attributes["outline.events"] = events
            span.attributes["outline.sequence.first"] = Int(firstSequence)
            return try await body()
        }
    }
}
