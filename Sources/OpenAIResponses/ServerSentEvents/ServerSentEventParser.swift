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
        var events: [ServerSentEvent] = []
        for byte in bytes {
            if afterCR {
                afterCR = false
                if byte == 0x0A { continue } // the LF of a CRLF
            }
            switch byte {
            case 0x0A:
                endLine(into: &events)
            case 0x0D:
                endLine(into: &events)
                afterCR = true
            default:
                line.append(byte)
            }
        }
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
        let name: Substring
        var value: Substring
        let text = String(decoding: line, as: UTF8.self)
        if let colon = text.firstIndex(of: ":") {
            name = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            name = Substring(text)
            value = ""
        }
        switch name {
        case "data":
            dataLines.append(String(value))
            hasData = true
        case "event":
            eventType = String(value)
        case "id":
            if !value.contains("\0") { id = String(value) }
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
