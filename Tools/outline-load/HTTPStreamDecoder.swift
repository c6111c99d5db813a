#if canImport(Glibc)
import Glibc
#endif

/// The response side of one HTTP/1.1 streaming request, for `EpollStreamReaders`:
/// the head (status, whether the body is chunked), then the body's bytes with
/// chunk framing removed, handed on as they arrive.
struct HTTPStreamDecoder {
    enum Outcome {
        /// Everything fed was taken; the response goes on.
        case more
        /// The head said something other than 200.
        case status(Int)
        case malformed(String)
        /// The body's consumer asked to stop or hang up.
        case scanner(SSEScanner.Verdict)
        /// The server ended the body (last chunk): the reader reconnects.
        case ended
    }

    private enum Chunk {
        case size(Int, digits: Int)
        case extensionSkip(Int)
        case data(Int)
        case dataEnd
    }

    private var head: [UInt8] = []
    private var inBody = false
    private var chunked = false
    private var chunk = Chunk.size(0, digits: 0)

    mutating func feed(_ bytes: UnsafeRawBufferPointer, body: (UnsafeRawBufferPointer) -> SSEScanner.Verdict) -> Outcome {
        var start = 0
        if !inBody {
            head.append(contentsOf: bytes)
            guard let end = Self.endOfHead(head) else { return head.count > 16_384 ? .malformed("response head over 16 KiB") : .more }
            let text = String(decoding: head[..<end], as: UTF8.self)
            let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return .malformed("no status line") }
            guard status == 200 else { return .status(status) }
            chunked = text.lowercased().contains("transfer-encoding: chunked")
            inBody = true
            start = bytes.count - (head.count - end - 4)
            head = []
        }
        guard chunked else {
            guard start < bytes.count else { return .more }
            let verdict = body(UnsafeRawBufferPointer(rebasing: bytes[start...]))
            return verdict == .next ? .more : .scanner(verdict)
        }
        var index = start
        while index < bytes.count {
            switch chunk {
            case .size(let size, let digits):
                let byte = bytes[index]
                index += 1
                if let value = Self.hexValue(byte) {
                    guard digits < 8 else { return .malformed("chunk size too long") }
                    chunk = .size(size * 16 + value, digits: digits + 1)
                } else if byte == UInt8(ascii: "\n") {
                    guard digits > 0 else { continue } // the CRLF that ends the previous chunk
                    if size == 0 { return .ended }
                    chunk = .data(size)
                } else if byte == UInt8(ascii: ";") {
                    chunk = .extensionSkip(size)
                } else if byte != UInt8(ascii: "\r") {
                    return .malformed("bad chunk size")
                }
            case .extensionSkip(let size):
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\n") {
                    if size == 0 { return .ended }
                    chunk = .data(size)
                }
            case .data(let remaining):
                let taken = min(remaining, bytes.count - index)
                let verdict = body(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + taken)]))
                index += taken
                chunk = remaining == taken ? .dataEnd : .data(remaining - taken)
                if verdict != .next { return .scanner(verdict) }
            case .dataEnd:
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\n") { chunk = .size(0, digits: 0) }
            }
        }
        return .more
    }

    private static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }
}

/// Server-sent events from a body's bytes, reading only what a load measurement
/// needs: the id, whether the event ends the stream, and, in the anchors'
/// frames, the publish time and sequence carried in the data.
struct SSEScanner {
    enum Verdict: Equatable { case next, stop, hangUp }

    struct Event {
        var id: Int32?
        /// `"seq":N` in the data (nchan numbers messages its own way).
        var sequence: Int32?
        /// `t` of data that starts `{"t":<seconds>,` (the anchors' frames).
        var publishTime: Double?
        var terminal: Bool
    }

    private var line: [UInt8] = []
    private var id: Int32?
    private var terminalName = false
    private var data: [UInt8] = []
    private var hasData = false

    mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (Event) -> Verdict) -> Verdict {
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                line.append(contentsOf: bytes[start...])
                return .next
            }
            let verdict: Verdict
            if line.isEmpty {
                verdict = take(UnsafeRawBufferPointer(rebasing: bytes[start..<newline]), onEvent: onEvent)
            } else {
                line.append(contentsOf: bytes[start..<newline])
                let whole = line
                line.removeAll(keepingCapacity: true)
                verdict = whole.withUnsafeBytes { take($0, onEvent: onEvent) }
            }
            start = newline + 1
            if verdict != .next { return verdict }
        }
        return .next
    }

    private mutating func take(_ raw: UnsafeRawBufferPointer, onEvent: (Event) -> Verdict) -> Verdict {
        var line = raw[...]
        if line.last == 13 { line = line.dropLast() }
        if line.isEmpty {
            defer { id = nil; terminalName = false; data.removeAll(keepingCapacity: true); hasData = false }
            guard id != nil || hasData else { return .next }
            let event = Event(id: id, sequence: id == nil ? Self.sequence(in: data) : nil, publishTime: Self.publishTime(in: data),
                              terminal: terminalName || Self.endsWithLast(data))
            return onEvent(event)
        }
        if Self.starts(line, with: "id:") {
            id = Int32(Self.value(line, after: 3))
        } else if Self.starts(line, with: "event:") {
            let name = Self.value(line, after: 6)
            terminalName = name == "session.completed" || name == "session.failed" || name == "session.cancelled"
        } else if Self.starts(line, with: "data:") {
            var value = line.dropFirst(5)
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            if hasData { data.append(10) }
            data.append(contentsOf: value)
            hasData = true
        }
        return .next
    }

    private static func starts(_ line: Slice<UnsafeRawBufferPointer>, with prefix: StaticString) -> Bool {
        guard line.count >= prefix.utf8CodeUnitCount else { return false }
        return zip(line, UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)).allSatisfy { $0 == $1 }
    }

    private static func value(_ line: Slice<UnsafeRawBufferPointer>, after count: Int) -> String {
        var value = line.dropFirst(count)
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        return String(decoding: value, as: UTF8.self)
    }

    private static func publishTime(in data: [UInt8]) -> Double? {
        let prefix = Array(#"{"t":"#.utf8)
        guard data.count > prefix.count, data.starts(with: prefix) else { return nil }
        let number = data[prefix.count...].prefix { $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "}") }
        return Double(String(decoding: number, as: UTF8.self))
    }

    private static func sequence(in data: [UInt8]) -> Int32? {
        let key = Array(#""seq":"#.utf8)
        guard data.count > key.count else { return nil }
        for index in 0...(data.count - key.count) where data[index] == key[0] && data[index..<(index + key.count)].elementsEqual(key) {
            return Int32(String(decoding: data[(index + key.count)...].prefix { (48...57).contains($0) }, as: UTF8.self))
        }
        return nil
    }

    private static func endsWithLast(_ data: [UInt8]) -> Bool {
        data.count >= 12 && data.suffix(12).elementsEqual(#","last":true}"#.utf8)
    }
}
