import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Sends bytes exactly as given (invalid UTF-8, odd framing) to a loopback
/// port and reads back the status and head; the body too unless it streams.
/// A client library would refuse or normalize what a hostile client sends.
enum RawHTTP {
    struct Reply: Sendable {
        var status: Int
        var head: String
        var body: [UInt8]
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
        func header(_ name: String) -> String? {
            head.split(separator: "\r\n").dropFirst().first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
                .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
        }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// `GET target` with `headers` (raw header lines, bytes as given).
    static func get(port: Int, target: [UInt8], headers: [[UInt8]] = []) async throws -> Reply {
        var request = Array("GET ".utf8) + target + Array(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".utf8)
        for header in headers { request += header + Array("\r\n".utf8) }
        request += Array("\r\n".utf8)
        return try await send(port: port, request)
    }

    /// The exchange runs on a thread of its own (`OwnThread`): its `recv` blocks.
    static func send(port: Int, _ request: [UInt8], timeoutSeconds: Int = 20) async throws -> Reply {
        try await OwnThread.run { try exchange(port: port, request, timeoutSeconds: timeoutSeconds) }
    }

    private static func exchange(port: Int, _ request: [UInt8], timeoutSeconds: Int) throws -> Reply {
        let connection = try RawSocket(port: port, receiveTimeoutSeconds: timeoutSeconds, send: request)
        let fd = connection.fd
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var headEnd: Int?
        var contentLength: Int?
        while true {
            if let headEnd {
                // A streaming body (SSE) is not read: the status and head are the point.
                guard let contentLength else { break }
                if received.count - headEnd >= contentLength { break }
            }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += chunk[0..<count]
            if headEnd == nil, let end = find(received, Array("\r\n\r\n".utf8)) {
                headEnd = end + 4
                let head = String(decoding: received[0..<end], as: UTF8.self)
                contentLength = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
                if contentLength == nil, !head.lowercased().contains("transfer-encoding: chunked") { contentLength = 0 }
            }
        }
        guard let headEnd else { throw Failure(description: "no response head (\(received.count) bytes)") }
        let head = String(decoding: received[0..<(headEnd - 4)], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first.map(String.init) ?? ""
        guard let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw Failure(description: "no status in \(statusLine.debugDescription)")
        }
        return Reply(status: status, head: head, body: Array(received[headEnd...]))
    }

    private static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        return nil
    }
}
