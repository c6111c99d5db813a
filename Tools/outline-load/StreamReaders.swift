import ArgumentParser
import Foundation
import ProviderHTTP

/// Which client reads the streams in a fan-out: `epoll` (one thread, a few µs per
/// delivery; the default, so the figures measure the server) or `curl` (the
/// libcurl `StreamClient`, an async sequence per connection, as before).
enum ReaderKind: String, ExpressibleByArgument, CaseIterable {
    case epoll, curl

    /// Reads every URL (`http://127.0.0.1:PORT/path?query`) until its stream ends,
    /// reconnecting with Last-Event-ID, and returns one result per URL, in order.
    func read(_ urls: [String], disconnectProbability: Double, timeout: Duration = .seconds(600)) async throws -> [StreamClient.Result] {
        switch self {
        case .curl:
            let http = CurlHTTPClient()
            let deadline = ContinuousClock.now + timeout
            return await withTaskGroup(of: (Int, StreamClient.Result).self) { group in
                for (index, url) in urls.enumerated() {
                    group.addTask { (index, await StreamClient(http: http, url: url, disconnectProbability: disconnectProbability).run(deadline: deadline)) }
                }
                var results = [StreamClient.Result](repeating: StreamClient.Result(), count: urls.count)
                for await (index, result) in group { results[index] = result }
                return results
            }
        case .epoll:
            let targets = try urls.map { url -> EpollStreamReaders.Target in
                guard url.hasPrefix("http://127.0.0.1:"), let slash = url.dropFirst(17).firstIndex(of: "/"),
                      let port = UInt16(url[url.index(url.startIndex, offsetBy: 17)..<slash]) else {
                    throw LoadError("the epoll reader reads loopback URLs (http://127.0.0.1:PORT/…), not \(url)")
                }
                return EpollStreamReaders.Target(port: port, path: String(url[slash...]))
            }
            let seconds = Double(timeout.components.seconds)
            return await EpollStreamReaders(targets: targets, disconnectProbability: disconnectProbability).run(deadline: Date().addingTimeInterval(seconds))
        }
    }
}
