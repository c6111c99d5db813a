/// HTTP over libcurl for the provider client: streamed or collected responses,
/// cancelled promptly when the caller's task is cancelled or it stops reading.
public struct CurlHTTPClient: Sendable {
    public init() {}

    /// The response as it arrives: its head, then body chunks. Ends when the
    /// transfer completes; throws `HTTPTransferError` when it fails. When the
    /// reading task is cancelled the stream ends (as every AsyncStream does) and
    /// the transfer is aborted; check `Task.isCancelled` after the loop.
    public func stream(_ request: HTTPRequest) -> AsyncThrowingStream<HTTPResponsePart, any Error> {
        let (stream, continuation) = AsyncThrowingStream<HTTPResponsePart, any Error>.makeStream()
        do {
            let transfer = try CurlTransfer(request, continuation: continuation)
            continuation.onTermination = { termination in
                if case .cancelled = termination { CurlMultiLoop.shared.cancel(transfer) }
            }
            CurlMultiLoop.shared.add(transfer)
        } catch {
            continuation.finish(throwing: error)
        }
        return stream
    }

    /// The whole response: head and body.
    public func send(_ request: HTTPRequest) async throws -> (head: HTTPResponseHead, body: [UInt8]) {
        var head: HTTPResponseHead?
        var body: [UInt8] = []
        for try await part in stream(request) {
            switch part {
            case .head(let value): head = value
            case .body(let bytes): body += bytes
            }
        }
        // A cancelled task ends the stream early without an error: say so.
        if Task.isCancelled { throw HTTPTransferError.cancelled }
        guard let head else { throw HTTPTransferError.transport(code: -1, message: "the server closed the connection without a response") }
        return (head, body)
    }
}
