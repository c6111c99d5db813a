import EventLog
import Foundation
import NIOCore

/// Consecutive events of one session rendered once into one buffer, which every
/// client of the session writes: a client at the batch's start writes the
/// buffer itself, one further on a slice of it (ByteBuffer slices share the
/// storage), so fan-out costs no copy per client.
public struct SSEBatch: Sendable {
    public let first: Int32
    public let bytes: ByteBuffer
    /// Where each event's frame starts in `bytes` (event `first + i` at `offsets[i]`).
    let offsets: [Int]
    /// The sequence of the session-ending event in the batch, if any.
    public let terminal: Int32?
    /// When the last event was recorded (the runner received it), for delivery latency.
    public let recordedAt: Date?
    /// When the batch reached the hub, for the feed → socket stage.
    public let fedAt: ContinuousClock.Instant

    public var last: Int32 { first + Int32(offsets.count) - 1 }
    public var range: ClosedRange<Int32> { first...last }

    /// Renders `events`, which must be consecutive and non-empty.
    public init(_ events: [FeedEvent], fedAt: ContinuousClock.Instant = .now) {
        precondition(!events.isEmpty)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.reduce(0) { $0 + $1.json.count + $1.eventType.utf8.count + 32 })
        var offsets: [Int] = []
        offsets.reserveCapacity(events.count)
        var terminal: Int32?
        for event in events {
            precondition(event.sequence == events[0].sequence + Int32(offsets.count), "a batch holds consecutive events")
            offsets.append(buffer.writerIndex)
            SSEFrame.render(id: event.sequence, event: event.eventType, data: event.json, into: &buffer)
            if terminal == nil, event.isTerminal { terminal = event.sequence }
        }
        self.first = events[0].sequence
        self.bytes = buffer
        self.offsets = offsets
        self.terminal = terminal
        self.recordedAt = events.last?.recordedAt
        self.fedAt = fedAt
    }

    /// The frames after `cursor` up to `through` (default: all), as a slice of the
    /// shared buffer; nil when none are left.
    public func frames(after cursor: Int32, through limit: Int32? = nil) -> ByteBuffer? {
        let end = min(limit ?? last, last)
        guard cursor < end, cursor + 1 >= first else { return nil }
        let from = offsets[Int(cursor + 1 - first)]
        let to = end == last ? bytes.readableBytes : offsets[Int(end + 1 - first)]
        return bytes.getSlice(at: bytes.readerIndex + from, length: to - from)
    }

    public var byteCount: Int { bytes.readableBytes }

    private init(first: Int32, bytes: ByteBuffer, offsets: [Int], terminal: Int32?, recordedAt: Date?, fedAt: ContinuousClock.Instant) {
        self.first = first
        self.bytes = bytes
        self.offsets = offsets
        self.terminal = terminal
        self.recordedAt = recordedAt
        self.fedAt = fedAt
    }

    /// The events after `cursor`, sharing this batch's storage; nil when none are left.
    public func suffix(after cursor: Int32) -> SSEBatch? {
        guard cursor >= first else { return self }
        guard cursor < last, let bytes = frames(after: cursor) else { return nil }
        let start = offsets[Int(cursor + 1 - first)]
        return SSEBatch(first: cursor + 1, bytes: bytes, offsets: offsets[Int(cursor + 1 - first)...].map { $0 - start },
                        terminal: terminal.flatMap { $0 > cursor ? $0 : nil }, recordedAt: recordedAt, fedAt: fedAt)
    }
}
