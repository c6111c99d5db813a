import Hummingbird

/// Answers each request in a task of its own; only the response body (an SSE
/// stream's loop) runs on the connection's task.
///
/// Why: a Swift task keeps its allocator's slabs until it ends, and an SSE
/// connection's task lives for hours. The middleware chain, the route and the
/// calls they make are deep (every `handle` awaits `next`); run on the
/// connection's task they left one slab of ~21 KB per idle stream (heaptrack:
/// the peak consumer of a server holding 1,000 streams). A short task per
/// request holds them only while it answers. The cost is one task per request.
struct OwnTaskResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: Sendable {
    typealias Context = Inner.Context
    let inner: Inner

    func respond(to request: Request, context: Context) async throws -> Response {
        let inner = self.inner
        return try await inOwnTask { try await inner.respond(to: request, context: context) }
    }
}

/// The router, answering through `OwnTaskResponder`.
struct OwnTaskRouter<Builder: HTTPResponderBuilder>: HTTPResponderBuilder where Builder.Responder.Context: Sendable {
    let builder: Builder
    func buildResponder() -> OwnTaskResponder<Builder.Responder> { OwnTaskResponder(inner: builder.buildResponder()) }
}
