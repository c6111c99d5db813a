/// An incremental `text/event-stream` parser: feed it bytes as they arrive, in
/// chunks split anywhere, and it returns each event once complete.
///
/// It follows the WHATWG algorithm: lines end in LF, CR or CRLF (a CR at the end
/// of one chunk and an LF at the start of the next are one line ending); lines
/// starting with ":" are comments; `data:` lines accumulate; a blank line
/// dispatches; a leading byte-order mark is dropped. `finish()` dispatches an
/// event the stream ended without a blank line for (the spec drops it; a
/// provider whose connection closed mid-stream may still have sent it whole).
public struct ServerSentEventParser: Sendable {
    private var line: [UInt8] = []
    private var afterCR = false
    private var atStart = true
    private var dataLines: [String] = []
    private var hasData = false
    private var eventType: String?
    private var id: String?
    private var retry: Int?
    private var sawField = false

    public init() {}

    /// Parses `bytes` and returns the events they complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ServerSentEvent] {
        feed(Array(bytes))
    }

    /// Parses `bytes` and returns the events they complete.
    public mutating func feed(_ bytes: [UInt8]) -> [ServerSentEvent] {
        bytes.withUnsafeBufferPointer { feed(buffer: $0) }
    }

    /// Parses `bytes` and returns the events they complete.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) -> [ServerSentEvent] {
        bytes.withUnsafeBufferPointer { feed(buffer: $0) }
    }

    /// Scans for line endings and copies whole runs between them, not byte by byte.
    private mutating func feed(buffer: UnsafeBufferPointer<UInt8>) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        var index = 0
        if afterCR, !buffer.isEmpty {
            afterCR = false
            if buffer[0] == 0x0A { index = 1 } // the LF of a CRLF split across chunks
        }
        var start = index
        while index < buffer.count {
            let byte = buffer[index]
            if byte == 0x0A || byte == 0x0D {
                line.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<index]))
                endLine(into: &events)
                if byte == 0x0D {
                    if index + 1 < buffer.count {
                        if buffer[index + 1] == 0x0A { index += 1 }
                    } else {
                        afterCR = true
                    }
                }
                index += 1
                start = index
            } else {
                index += 1
            }
        }
        line.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<buffer.count]))
        return events
    }

    /// Ends the stream: a last line without its line ending, and an event
    /// without its blank line, are dispatched.
    public mutating func finish() -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if !line.isEmpty { endLine(into: &events) }
        dispatch(into: &events)
        return events
    }

    private mutating func endLine(into events: inout [ServerSentEvent]) {
        defer { line.removeAll(keepingCapacity: true) }
        if atStart {
            atStart = false
            if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        }
        if line.isEmpty {
            dispatch(into: &events)
            return
        }
        if line.first == UInt8(ascii: ":") { return } // a comment: keep-alive
        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let nameBytes = line[..<(colon ?? line.endIndex)]
        var valueStart = colon.map { $0 + 1 } ?? line.endIndex
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let name = String(decoding: nameBytes, as: UTF8.self)
        let value = String(decoding: line[valueStart...], as: UTF8.self)
        switch name {
        case "data":
            dataLines.append(value)
            hasData = true
        case "event":
            eventType = value
        case "id":
            if !value.contains("\0") { id = value }
        case "retry":
            if !value.isEmpty, value.allSatisfy(\.isASCII), value.allSatisfy(\.isNumber), let milliseconds = Int(value) { retry = milliseconds }
        default:
            return // unknown field: ignored
        }
        sawField = true
    }

    private mutating func dispatch(into events: inout [ServerSentEvent]) {
        defer {
            dataLines.removeAll(keepingCapacity: true)
            hasData = false
            eventType = nil
            retry = nil
            sawField = false
        }
        guard sawField else { return }
        // An event with no data is not dispatched (WHATWG), but its id still counts.
        guard hasData else { return }
        events.append(ServerSentEvent(event: eventType, data: dataLines.joined(separator: "\n"), id: id, retry: retry))
    }
}
