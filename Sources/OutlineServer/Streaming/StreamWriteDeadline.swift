import Hummingbird
import NIOCore

/// Closes a streaming connection whose client stopped reading. A write to a
/// socket nobody reads waits for buffer space forever, holding its handler and
/// the page of events it was writing; with this, the connection is closed
/// after `timeout` of waiting, the write fails, and the memory is freed. The
/// client resumes with Last-Event-ID like after any drop.
///
/// Armed only while the channel is not writable (a write then waits), as a
/// timer on the channel's own event loop: no task per connection.
struct StreamWriteDeadline: Sendable {
    let channel: any Channel
    let timeout: TimeAmount

    func write(_ buffer: ByteBuffer, with writer: inout some ResponseBodyWriter) async throws {
        guard !channel.isWritable else {
            try await writer.write(buffer)
            return
        }
        let channel = self.channel
        let closing = channel.eventLoop.scheduleTask(in: timeout) {
            StreamMetrics.slowClientsClosed.increment()
            channel.close(promise: nil)
        }
        defer { closing.cancel() }
        try await writer.write(buffer)
    }
}
