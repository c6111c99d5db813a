import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The floor `outline-load` measures the service against (issue 12): a bare
/// Hummingbird 2 SSE broadcaster with default settings, in memory, with no
/// database, no authentication and no projection. It serves the same kind of
/// frames as the service (`id:`, `event:`, JSON `data:` of a text delta) so the
/// same load client reads both; whatever the service costs beyond these
/// figures is the price of its durability and its checks.
///
///   outline-floor --port 0 --port-file F --sessions 100 --events 300 --pace-ms 25
///
/// `POST /start` starts every session's publisher; `GET /sub/{n}` streams
/// session n from after `Last-Event-ID` (0 = from the start) and then live.
/// Each frame's data carries its publish time (`"t"`, seconds since 1970), so a
/// client measures publish → read; the last frame is `session.completed`.
@main
struct OutlineFloor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "outline-floor", abstract: "A bare in-memory Hummingbird SSE broadcaster: the floor outline-load compares the service with.")

    @Option var port = 0
    @Option(help: "write the bound port here once listening") var portFile: String?
    @Option var sessions = 100
    @Option(help: "frames per session, the last one terminal") var events = 300
    @Option(help: "milliseconds between a session's frames") var paceMs = 25
    @Option(help: "characters of text per frame") var deltaLength = 40

    func validate() throws {
        guard (1...100_000).contains(sessions), (2...10_000_000).contains(events), (1...60_000).contains(paceMs), (1...100_000).contains(deltaLength) else {
            throw ValidationError("sessions 1…100000, events 2…10000000, pace-ms 1…60000, delta-length 1…100000")
        }
    }

    func run() async throws {
        let channels = (0..<sessions).map { _ in FloorChannel() }
        let pace = Duration.milliseconds(paceMs), events = self.events
        let text = String(repeating: "x", count: deltaLength)
        let started = Mutex(false)
        let router = Router()
        router.post("/start") { _, _ -> HTTPResponse.Status in
            let first = started.withLock { value -> Bool in defer { value = true }; return !value }
            guard first else { return .conflict }
            for channel in channels {
                Task {
                    for sequence in 1...Int32(events) {
                        try? await Task.sleep(for: pace)
                        let terminal = sequence == Int32(events)
                        channel.publish(sequence: sequence, event: terminal ? "session.completed" : "output_text.delta", text: text)
                    }
                }
            }
            return .accepted
        }
        router.get("/sub/:session") { request, context -> Response in
            guard let index = context.parameters.get("session", as: Int.self), channels.indices.contains(index) else { return Response(status: .notFound) }
            let after = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int32($0) } ?? 0
            let channel = channels[index]
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
                let (frames, subscription) = channel.subscribe(after: after)
                defer { channel.unsubscribe(subscription.id) }
                if !frames.isEmpty { try await writer.write(contentsOf: frames) }
                if channel.isEnded(after: frames.count + Int(after)) { try await writer.finish(nil); return }
                for await frame in subscription.stream {
                    try await writer.write(frame.bytes)
                    if frame.terminal { break }
                }
                try await writer.finish(nil)
            })
        }
        let portFile = self.portFile
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "outline-floor"),
                              onServerRunning: { channel in
                                  let bound = channel.localAddress?.port ?? 0
                                  if let portFile { try? String(bound).write(toFile: portFile, atomically: true, encoding: .utf8) }
                              })
        try await app.runService()
    }
}

/// One session's frames and subscribers: every frame kept (subscribers replay
/// from their cursor), each live frame yielded to every subscriber's stream.
final class FloorChannel: Sendable {
    struct Frame: Sendable {
        var bytes: ByteBuffer
        var terminal: Bool
    }

    struct Subscription {
        let id: Int
        let stream: AsyncStream<Frame>
    }

    private struct State {
        var frames: [Frame] = []
        var subscribers: [Int: AsyncStream<Frame>.Continuation] = [:]
        var nextID = 0
        var ended = false
    }

    private let state = Mutex(State())

    func publish(sequence: Int32, event: String, text: String) {
        let data = "{\"t\":\(String(format: "%.6f", Date().timeIntervalSince1970)),\"seq\":\(sequence),\"delta\":\"\(text)\"" + (event == "session.completed" ? ",\"last\":true}" : "}")
        let frame = Frame(bytes: ByteBuffer(string: "id: \(sequence)\nevent: \(event)\ndata: \(data)\n\n"), terminal: event == "session.completed")
        let subscribers = state.withLock { state -> [AsyncStream<Frame>.Continuation] in
            state.frames.append(frame)
            if frame.terminal { state.ended = true }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.yield(frame) }
    }

    /// The frames after `after`, and a stream of the ones published from now on.
    func subscribe(after: Int32) -> ([ByteBuffer], Subscription) {
        let (stream, continuation) = AsyncStream<Frame>.makeStream()
        return state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = continuation
            let backlog = state.frames.dropFirst(max(0, min(Int(after), state.frames.count))).map(\.bytes)
            return (Array(backlog), Subscription(id: id, stream: stream))
        }
    }

    func isEnded(after sent: Int) -> Bool { state.withLock { $0.ended && sent >= $0.frames.count } }

    func unsubscribe(_ id: Int) {
        let continuation = state.withLock { $0.subscribers.removeValue(forKey: id) }
        continuation?.finish()
    }
}
