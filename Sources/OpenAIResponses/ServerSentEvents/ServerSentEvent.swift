/// One event of a `text/event-stream`, as the WHATWG HTML standard defines it.
public struct ServerSentEvent: Sendable, Equatable {
    /// The `event:` field; nil means the default type, "message".
    public var event: String?
    /// The `data:` lines, joined with "\n".
    public var data: String
    /// The `id:` field, if this event set one.
    public var id: String?
    /// The `retry:` field in milliseconds, if this event set one.
    public var retry: Int?

    public init(event: String? = nil, data: String, id: String? = nil, retry: Int? = nil) {
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
    }
}
