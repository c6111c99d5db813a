import EventLog
import Foundation
import NIOCore

/// One Server-Sent Event as the wire carries it, rendered once and written to
/// every client of the session: `id`, `event`, then the JSON as `data` lines.
public struct SSEFrame: Sendable {
    public var sequence: Int32
    public var isTerminal: Bool
    public var bytes: ByteBuffer
    /// When the event was recorded (the runner received it), for delivery latency.
    public var recordedAt: Date?

    public init(_ event: FeedEvent) {
        sequence = event.sequence
        isTerminal = event.isTerminal
        recordedAt = event.recordedAt
        bytes = Self.render(id: event.sequence, event: event.eventType, data: event.json)
    }

    public init(sequence: Int32, event: String, data: [UInt8], isTerminal: Bool = false) {
        self.sequence = sequence
        self.isTerminal = isTerminal
        bytes = Self.render(id: sequence, event: event, data: data)
    }

    /// JSON written by this service is one line; a payload with line breaks (only
    /// possible in a raw event of another writer) is split over `data:` lines,
    /// which a client joins with "\n", so framing can never break.
    static func render(id: Int32, event: String, data: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.count + event.utf8.count + 32)
        render(id: id, event: event, data: data, into: &buffer)
        return buffer
    }

    /// Appends the frame to `buffer`: a backlog page renders all its frames
    /// into one buffer, with no buffer per frame.
    static func render(id: Int32, event: String, data: [UInt8], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("id: ")
        buffer.writeString(String(id))
        buffer.writeStaticString("\nevent: ")
        buffer.writeString(event)
        buffer.writeStaticString("\ndata: ")
        if hasLineBreak(data) {
            var first = true
            for line in data.split(omittingEmptySubsequences: false, whereSeparator: { $0 == 0x0A || $0 == 0x0D }) {
                if !first { buffer.writeStaticString("\ndata: ") }
                buffer.writeBytes(line)
                first = false
            }
        } else {
            buffer.writeBytes(data)
        }
        buffer.writeStaticString("\n\n")
    }

    /// memchr, not a generic search: every frame of every backlog passes here.
    static func hasLineBreak(_ data: [UInt8]) -> Bool {
        data.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return false }
            return memchr(base, 0x0A, bytes.count) != nil || memchr(base, 0x0D, bytes.count) != nil
        }
    }

    /// A comment line: keeps proxies and the browser from timing the stream out.
    public static let heartbeat = ByteBuffer(string: ":\n\n")
}
