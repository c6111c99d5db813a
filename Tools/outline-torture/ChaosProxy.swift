import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy between the service and the provider that the torture run
/// breaks on purpose: `cut()` closes every connection mid-stream (the
/// provider's socket dropping), `stall(for:)` stops forwarding for a while (a
/// provider that goes silent). Plain threads and blocking sockets: it carries a
/// handful of connections, and nothing here runs on Swift's cooperative pool.
final class ChaosProxy: Sendable {
    let port: Int
    private let listener: Int32
    private let target: Int
    private let state = Mutex<(connections: Set<Int32>, stalledUntil: ContinuousClock.Instant)>(([], .now))
    /// Requests whose first bytes contain the marker wait here until released.
    private let holding = Mutex<(marker: String?, held: Int, release: Bool?)>((nil, 0, nil))

    init(targetPort: Int) throws {
        target = targetPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 128) == 0 else { throw TortureFailure("the proxy cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { _ = $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        Thread { [self] in acceptLoop() }.start()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Closes every open connection (both directions), as a dropped socket would.
    func cut() -> Int {
        let open = state.withLock { current -> Set<Int32> in
            let open = current.connections
            current.connections = []
            return open
        }
        for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
        return open.count / 2
    }

    /// Forwards nothing until `duration` has passed.
    func stall(for duration: Duration) {
        state.withLock { $0.stalledUntil = max($0.stalledUntil, .now + duration) }
    }

    /// From now on, a request whose first bytes contain `marker` (a model name)
    /// waits at the proxy: it has left the service but not reached the provider.
    func hold(requestsContaining marker: String) {
        holding.withLock { $0 = (marker, 0, nil) }
    }

    /// How many requests are waiting.
    var held: Int { holding.withLock { $0.held } }

    /// Lets the waiting requests go on (`forward`) or drops their connections.
    func release(forward: Bool) {
        holding.withLock { $0.marker = nil; $0.release = forward }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: target)
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else { close(client); close(upstream); continue }
            state.withLock { $0.connections.formUnion([client, upstream]) }
            Thread { [self] in pump(from: client, to: upstream, inspecting: true) }.start()
            Thread { [self] in pump(from: upstream, to: client, inspecting: false) }.start()
        }
    }

    /// `inspecting`: the service-to-provider direction, where held requests are
    /// recognized (in any chunk: connections are reused, and a body may follow its head).
    private func pump(from source: Int32, to destination: Int32, inspecting: Bool) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        defer {
            shutdown(destination, Int32(SHUT_RDWR))
            shutdown(source, Int32(SHUT_RDWR))
            let last = state.withLock { current -> Bool in
                current.connections.remove(source)
                return !current.connections.contains(destination)
            }
            // The second pump to finish closes both descriptors.
            if last { close(source) }
        }
        while true {
            let count = read(source, &buffer, buffer.count)
            if count <= 0 { return }
            if inspecting {
                let text = String(decoding: buffer[0..<count], as: UTF8.self)
                let marker = holding.withLock { current -> String? in
                    guard let marker = current.marker, text.contains(marker) else { return nil }
                    current.held += 1
                    return marker
                }
                if marker != nil {
                    while holding.withLock({ $0.release == nil }) { Thread.sleep(forTimeInterval: 0.01) }
                    if holding.withLock({ $0.release }) == false { return }
                }
            }
            while let until = state.withLock({ $0.stalledUntil > .now ? $0.stalledUntil : nil }) {
                Thread.sleep(forTimeInterval: max(0.01, Double((until - .now).components.seconds) + Double((until - .now).components.attoseconds) / 1e18))
            }
            var offset = 0
            while offset < count {
                let written = buffer[offset..<count].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

struct TortureFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
