import EventLog
import Foundation
import Hummingbird
import NIOCore

/// Analysts' exports over HTTP, the same NDJSON lines as `outline-admin export`
/// (stable field names, payload verbatim, chain link), streamed page by page so
/// no export is held in memory: `GET /api/workflows/{id}/export` for a workflow
/// its owner may read, `GET /admin/export?since=&until=` for a time range.
/// `outline-admin export-check` re-hashes either.
struct ExportRoutes: Sendable {
    let parts: ServiceParts

    func register(api: RouterGroup<OutlineRequestContext>, admin: RouterGroup<OutlineRequestContext>) {
        api.get("/workflows/:workflowId/export") { request, context in
            let identity = try context.requireAPIIdentity()
            let workflow = try WorkflowScope.of(request, context, identity: identity).key
            try await parts.directory.requireExisting(workflow)
            return stream(.workflow(workflow.id, owner: workflow.owner), filename: "\(workflow.id).ndjson")
        }
        admin.get("/export") { request, context in
            _ = try context.requireAdmin()
            let since = try Self.time(request, "since")
            let until = try Self.time(request, "until")
            if let since, let until, since >= until {
                throw APIError.invalid("until", "until must be later than since.", code: "invalid_range")
            }
            return stream(.timeRange(from: since, to: until), filename: "outline-events.ndjson")
        }
    }

    private func stream(_ selection: LogExport.Selection, filename: String) -> Response {
        let export = LogExport(store: parts.store)
        return Response(
            status: .ok,
            headers: [.contentType: "application/x-ndjson", .contentDisposition: "attachment; filename=\"\(filename)\""],
            body: ResponseBody { writer in
                _ = try await export.run(selection) { page in try await writer.write(ByteBuffer(bytes: page)) }
                try await writer.finish(nil)
            }
        )
    }

    /// An RFC 3339 time in the query (`2026-11-25T00:00:00Z`, fractional seconds allowed).
    static func time(_ request: Request, _ name: String) throws -> Date? {
        guard let text = request.uri.queryParameters.get(name).map({ String($0) }) else { return nil }
        if let date = TimestampText.parseInput(text) { return date }
        throw APIError.invalid(name, "\(name) is an RFC 3339 time such as 2026-11-25T00:00:00Z.", code: "invalid_time")
    }
}
