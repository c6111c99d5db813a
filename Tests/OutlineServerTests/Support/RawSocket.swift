import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to a loopback port, for clients that misbehave.
final class RawSocket: @unchecked Sendable {
    let fd: Int32

    init(port: Int, receiveBuffer: Int32? = nil, receiveTimeoutSeconds: Int? = nil, send request: [UInt8] = []) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTP.Failure(description: "socket() failed") }
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        if let seconds = receiveTimeoutSeconds {
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw RawHTTP.Failure(description: "connect to port \(port) failed") }
        try send(request)
    }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw RawHTTP.Failure(description: "send failed") }
            offset += sent
        }
    }

    /// True once the peer closed (recv returns 0 or an error); `draining` reads
    /// and discards what was buffered first.
    /// Waits on a thread of its own (`OwnThread`): its `recv` blocks.
    func waitForClose(seconds: Int, draining: Bool = false) async -> Bool {
        await OwnThread.run { [self] in blockingWaitForClose(seconds: seconds, draining: draining) }
    }

    /// How many of `sockets` the peer has not closed within `seconds` (0: all
    /// closed). Buffered bytes are read and discarded. One thread polls them all,
    /// so thousands of sockets cost one thread, not one each.
    static func stillOpen(_ sockets: [RawSocket], within seconds: Int) async -> Int {
        await OwnThread.run {
            var open = Set(sockets.indices)
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let deadline = ContinuousClock.now + .seconds(seconds)
            while !open.isEmpty && ContinuousClock.now < deadline {
                var descriptors = open.map { pollfd(fd: sockets[$0].fd, events: Int16(POLLIN), revents: 0) }
                let indices = Array(open)
                guard poll(&descriptors, nfds_t(descriptors.count), 200) > 0 else { continue }
                for (slot, descriptor) in descriptors.enumerated() where descriptor.revents != 0 {
                    let count = buffer.withUnsafeMutableBytes { recv(descriptor.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { open.remove(indices[slot]) }
                }
            }
            return open.count
        }
    }

    /// Opens `count` connections on a thread of its own: `connect` blocks while
    /// the server's accept queue is full, as it is when hundreds arrive at once.
    static func open(_ count: Int, port: Int, receiveBuffer: Int32? = nil, send request: @escaping @Sendable () -> [UInt8] = { [] }) async throws -> [RawSocket] {
        try await OwnThread.run { try (0..<count).map { _ in try RawSocket(port: port, receiveBuffer: receiveBuffer, send: request()) } }
    }

    private func blockingWaitForClose(seconds: Int, draining: Bool) -> Bool {
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return true }
            if count < 0 && errno != EAGAIN && errno != EWOULDBLOCK { return true }
            if count > 0 && !draining { continue }
        }
        return false
    }

    deinit { close(fd) }
}
