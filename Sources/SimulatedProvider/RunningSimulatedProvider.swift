import Hummingbird
import Logging

/// A simulated provider serving on a port of its own, for tests and tools that
/// need one in-process; `stop()` shuts it down.
public struct RunningSimulatedProvider: Sendable {
    public let url: String
    public let state: SimulatedProviderState
    private let task: Task<Void, any Error>

    /// Starts `server` on `host` and `port` (0: any free port) and returns once it listens.
    public static func start(_ server: SimulatedProviderServer, host: String = "127.0.0.1", port: Int = 0,
                             logger: Logger = { var l = Logger(label: "simulated-provider"); l.logLevel = .warning; return l }()) async throws -> RunningSimulatedProvider {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let application = Application(
            router: server.router(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "simulated-provider"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? port) },
            logger: logger
        )
        let sender = SimulatedWebhookSender(state: server.state)
        let task = Task {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await sender.run() }
                try await application.run()
                group.cancelAll()
            }
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CancellationError() }
        return RunningSimulatedProvider(url: "http://\(host):\(bound)", state: server.state, task: task)
    }

    public func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}
