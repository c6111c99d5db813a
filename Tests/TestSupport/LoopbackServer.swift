import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for testing the libcurl client against real
/// sockets: it answers each connection with a scripted response, written in
/// pieces with pauses, or cut off, as a test asks. One thread per connection.
public final class LoopbackServer: @unchecked Sendable {
    public enum Step: Sendable {
        case write(String)
        case pause(milliseconds: Int)
        /// Close the connection mid-response (a dropped connection).
        case cut
    }

    public let port: Int
    private let listener: Int32
    private let script: @Sendable (_ requestHead: String, _ body: String) -> [Step]
    private let lock = NSLock()
    private var requests: [(head: String, body: String)] = []

    public init(script: @escaping @Sendable (_ requestHead: String, _ body: String) -> [Step]) throws {
        self.script = script
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { _ = $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public var received: [(head: String, body: String)] { lock.withLock { requests } }

    private let stopped = DispatchSemaphore(value: 0)

    /// Stops accepting and returns once the listening socket is closed. The
    /// accept thread closes it itself: closing it from here could let a new
    /// server reuse the descriptor while this thread still accepts on it.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        stopped.wait()
    }

    private func acceptLoop() {
        defer {
            close(listener)
            stopped.signal()
        }
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 { return }
            let thread = Thread { [self] in serve(connection) }
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        var head = ""
        var body = ""
        while true {
            let count = read(connection, &chunk, chunk.count)
            if count <= 0 { return }
            buffer += chunk[0..<count]
            // Find the end of the head in bytes: a read may split a UTF-8 character.
            guard let end = (0..<max(0, buffer.count - 3)).first(where: { buffer[$0..<($0 + 4)].elementsEqual([13, 10, 13, 10]) }) else { continue }
            head = String(decoding: buffer[..<end], as: UTF8.self)
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if buffer.count - (end + 4) >= length {
                body = String(decoding: buffer[(end + 4)...], as: UTF8.self)
                break
            }
        }
        lock.withLock { requests.append((head, body)) }
        for step in script(head, body) {
            switch step {
            case .write(let text):
                let bytes = Array(text.utf8)
                if write(connection, bytes, bytes.count) < 0 { return }
            case .pause(let milliseconds):
                usleep(UInt32(milliseconds * 1000))
            case .cut:
                // Close mid-response (FIN, not RST: a reset would let the kernel drop
                // bytes already sent but not yet read, and the test would depend on timing).
                shutdown(connection, Int32(SHUT_RDWR))
                return
            }
        }
    }
}
