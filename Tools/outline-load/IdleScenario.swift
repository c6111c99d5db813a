import Foundation
import OutlineAuth
import PostgresClient
import ProviderHTTP

/// Many open SSE connections on sessions that are waiting (for clarification
/// answers): what each costs the server in memory (CONTRACT §7: 10,000
/// connections, ≤ 20 KB each).
struct IdleScenario {
    let connections: Int
    let sessions: Int
    /// Seconds to keep the connections open after measuring (to inspect the server).
    var hold = 0
    /// Seconds after which to measure again, the streams still open: what stays
    /// once the server has handed free heap back (`OUTLINE_HEAP_TRIM_SECONDS`).
    var settle = 0

    /// Returns KB per connection: after `settle` seconds if asked, else on opening.
    @discardableResult
    func run(stack: LoadStack, signer: TokenSigner) async throws -> Double {
        let http = CurlHTTPClient()
        let token = try await signer.sign(AccessToken(subject: "load", role: .user, expiresAt: Date().addingTimeInterval(3600)))
        var urls: [String] = []
        for index in 0..<sessions {
            urls.append(stack.url + (try await stack.startSession("wf-idle-\(index)", body: #"{"prompt": "Idle"}"#, http: http, token: token)).streamPath)
        }
        try await Task.sleep(for: .seconds(2)) // clarification questions written; the sessions now wait
        let before = stack.memory.rss
        let opened = OpenCounter()
        let targets = urls
        let connections = self.connections
        let holding = Task {
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<connections {
                    group.addTask {
                        // Last-Event-ID far ahead: the stream stays open and silent but for heartbeats.
                        let request = ProviderHTTP.HTTPRequest(url: targets[index % targets.count], headers: [("Last-Event-ID", "1000000")], totalTimeout: .seconds(600))
                        do {
                            for try await part in http.stream(request) {
                                if case .head(let head) = part, head.status == 200 { opened.add() }
                            }
                        } catch {}
                    }
                }
            }
        }
        let started = ContinuousClock.now
        while opened.count < connections, ContinuousClock.now - started < .seconds(120) { try await Task.sleep(for: .milliseconds(200)) }
        try await Task.sleep(for: .seconds(3))
        let after = stack.memory
        let open = opened.count
        var perConnection = Double(after.rss - before) * 1.024 / Double(max(open, 1))
        print("idle connections: \(open) of \(connections) open SSE streams over \(sessions) waiting sessions")
        print(String(format: "  server memory %d MiB before, %d MiB with them open: %.1f KB per connection; %d threads",
                     before / 1024, after.rss / 1024, Double(after.rss - before) * 1.024 / Double(max(open, 1)), stack.threads))
        if settle > 3 {
            try await Task.sleep(for: .seconds(settle - 3))
            let settled = stack.memory
            perConnection = Double(settled.rss - before) * 1.024 / Double(max(open, 1))
            print(String(format: "  after %d s with them open: %d MiB, %.1f KB per connection (%d still open)",
                         settle, settled.rss / 1024, Double(settled.rss - before) * 1.024 / Double(max(open, 1)), opened.count))
        }
        if hold > 0 {
            print("  holding them \(hold) s (server pid \(stack.process.processIdentifier)); one stream: \(urls[0])")
            try await Task.sleep(for: .seconds(hold))
        }
        holding.cancel()
        return perConnection
    }
}

final class OpenCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add() { lock.lock(); value += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return value }
}
