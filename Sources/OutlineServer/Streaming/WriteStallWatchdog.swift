import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client stopped reading: once more than NIO's
/// high-water mark (64 KiB) waits to go out, the channel turns unwritable and a
/// timer starts; if it has not drained within `timeout`, the connection is
/// closed, every pending write fails, and the handler and its buffers are
/// freed. The client resumes with Last-Event-ID as after any drop.
///
/// A pipeline handler rather than a wrapper around the handler's writes: it
/// also covers what waits after the handler returned (the last frames and the
/// end of a response queued behind a full socket), which no idle timeout closes
/// because the response never finished. One timer per stalled connection, none
/// for a client that reads. It also sets each connection's receive buffer
/// (`receiveBuffer`), being the one handler every connection has.
final class WriteStallWatchdog: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private var closing: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            disarm()
        } else if closing == nil {
            let channel = context.channel
            closing = context.eventLoop.scheduleTask(in: timeout) {
                StreamMetrics.slowClientsClosed.increment()
                channel.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    /// Every connection starts with a small receive buffer: a stream's client sends
    /// one short request and then only reads, and NIO keeps a channel's receive
    /// buffer between reads (2 KiB by default, most of it idle per open stream).
    /// The adaptive allocator still grows it for a large request body.
    static let receiveBuffer = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536)

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffer)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    private func disarm() {
        closing?.cancel()
        closing = nil
    }
}
