import CEpoll
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Many SSE readers on one OS thread with epoll, non-blocking loopback sockets
/// and a parser that looks only at what the measurement needs (`id:`, `event:`,
/// the start and end of `data:`).
///
/// Why not `StreamClient` (libcurl + an async sequence per connection): on a
/// two-core rig its 0.5–0.7 cores at 30,000 deliveries/s compete with the server
/// it measures, so the figures partly measure the tool. This reader costs a few
/// microseconds per delivery and behaves the same: `Last-Event-ID` reconnects,
/// random hang-ups, a 204 or a terminal event ends a reader.
final class EpollStreamReaders: @unchecked Sendable {
    /// One stream to read: a loopback port and the request path (with its query).
    struct Target {
        var port: UInt16
        var path: String
        var authorization: String? = nil
    }

    // Sendable by hand: every stored property is a constant, and the loop's
    // mutable state lives on its one thread.
    private let targets: [Target]
    private let disconnectProbability: Double
    private let receiveBuffer: Int32?

    init(targets: [Target], disconnectProbability: Double = 0, receiveBuffer: Int32? = nil) {
        self.targets = targets
        self.disconnectProbability = disconnectProbability
        self.receiveBuffer = receiveBuffer
    }

    /// Reads every target until it ends or `deadline` passes, on a thread of its own
    /// (never the cooperative pool), and returns one result per target, in order.
    func run(deadline: Date) async -> [StreamClient.Result] {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: self.loop(deadline: deadline)) }
            thread.name = "outline-load readers"
            thread.stackSize = 1 << 22
            thread.start()
        }
    }

    // MARK: - The loop

    private final class Reader {
        let index: Int
        var fd: Int32 = -1
        var result = StreamClient.Result()
        var cursor: Int32?
        var connectedAt = 0.0
        var ended = false
        var retryAt: Double?
        /// The request bytes not yet written (a fresh socket may not take them at once).
        var pendingRequest: [UInt8] = []
        var wire = HTTPStreamDecoder()
        var events = SSEScanner()
        init(index: Int) { self.index = index }
    }

    private func loop(deadline: Date) -> [StreamClient.Result] {
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        defer { close(epoll) }
        let readers = targets.indices.map(Reader.init)
        var random = SystemRandomNumberGenerator()
        var open = readers.count
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        let end = deadline.timeIntervalSince1970

        func finish(_ reader: Reader) {
            if reader.fd >= 0 { epoll_ctl(epoll, EPOLL_CTL_DEL, reader.fd, nil); close(reader.fd); reader.fd = -1 }
            if !reader.ended { reader.ended = true; open -= 1 }
        }
        func drop(_ reader: Reader, retryAfter delay: Double?, now: Double) {
            if reader.fd >= 0 { epoll_ctl(epoll, EPOLL_CTL_DEL, reader.fd, nil); close(reader.fd); reader.fd = -1 }
            reader.result.reconnects += 1
            reader.retryAt = now + (delay ?? 0)
        }
        func connect(_ reader: Reader, now: Double) {
            reader.retryAt = nil
            let target = targets[reader.index]
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { reader.retryAt = now + 0.1; return }
            if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = target.port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard status == 0 || errno == EINPROGRESS else { close(fd); reader.result.reconnects += 1; reader.retryAt = now + 0.1; return }
            reader.fd = fd
            reader.connectedAt = now
            reader.wire = HTTPStreamDecoder()
            reader.events = SSEScanner()
            var path = target.path
            if reader.cursor == nil { path += "&from=0" }
            var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            if let cursor = reader.cursor { request += "Last-Event-ID: \(cursor)\r\n" }
            if let authorization = target.authorization { request += "Authorization: \(authorization)\r\n" }
            request += "\r\n"
            reader.pendingRequest = Array(request.utf8)
            var event = epoll_event()
            event.events = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue
            event.data.u64 = UInt64(reader.index)
            epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
        }

        var now = Date().timeIntervalSince1970
        readers.forEach { connect($0, now: now) }
        while open > 0 {
            now = Date().timeIntervalSince1970
            if now >= end { break }
            var wait = min(end - now, 0.05)
            for reader in readers where !reader.ended && reader.fd < 0 {
                if let due = reader.retryAt {
                    if due <= now { connect(reader, now: now) } else { wait = min(wait, due - now) }
                }
            }
            let ready = epoll_wait(epoll, &events, Int32(events.count), Int32(max(1, wait * 1000)))
            guard ready > 0 else { continue }
            now = Date().timeIntervalSince1970
            for slot in 0..<Int(ready) {
                let reader = readers[Int(events[slot].data.u64)]
                guard reader.fd >= 0 else { continue }
                let flags = events[slot].events
                if !reader.pendingRequest.isEmpty, flags & EPOLLOUT.rawValue != 0 {
                    let sent = reader.pendingRequest.withUnsafeBytes { send(reader.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if sent < 0 { if errno != EAGAIN { drop(reader, retryAfter: 0.1, now: now) }; continue }
                    reader.pendingRequest.removeFirst(sent)
                    if reader.pendingRequest.isEmpty {
                        var event = epoll_event()
                        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
                        event.data.u64 = UInt64(reader.index)
                        epoll_ctl(epoll, EPOLL_CTL_MOD, reader.fd, &event)
                    }
                }
                guard flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 else { continue }
                reading: while reader.fd >= 0 {
                    let count = recv(reader.fd, buffer.baseAddress, buffer.count, 0)
                    if count < 0 {
                        if errno == EAGAIN || errno == EINTR { break reading }
                        drop(reader, retryAfter: 0.1, now: now)
                        break reading
                    }
                    if count == 0 {
                        // The server ended the response without a terminal event: resume.
                        drop(reader, retryAfter: 0, now: now)
                        break reading
                    }
                    reader.result.bytes += count
                    let outcome = reader.wire.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) { body in
                        reader.events.feed(body) { event in
                            guard let id = event.id ?? event.sequence else { return .next }
                            reader.result.ids.append(id)
                            reader.result.arrivals.append(now)
                            reader.result.connectedAt.append(reader.connectedAt)
                            reader.result.published.append(event.publishTime)
                            reader.cursor = id
                            if event.terminal { return .stop }
                            if self.disconnectProbability > 0, Double.random(in: 0..<1, using: &random) < self.disconnectProbability { return .hangUp }
                            return .next
                        }
                    }
                    switch outcome {
                    case .more: continue reading
                    case .status(let status) where status == 204: finish(reader)
                    case .status(let status): reader.result.failure = "HTTP \(status)"; finish(reader)
                    case .malformed(let why): reader.result.failure = why; finish(reader)
                    case .scanner(.stop): finish(reader)
                    case .scanner(.hangUp): drop(reader, retryAfter: 0, now: now)
                    case .scanner(.next): continue reading
                    case .ended: drop(reader, retryAfter: 0, now: now)
                    }
                }
            }
        }
        for reader in readers where !reader.ended {
            reader.result.failure = "deadline passed before the session ended"
            finish(reader)
        }
        return readers.map(\.result)
    }
}
