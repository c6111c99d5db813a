import CLibPQ
import Foundation
import Logging
import Synchronization

/// A notification sent by `NOTIFY` or `pg_notify`.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    public var senderPID: Int32
}

/// What a `NotificationListener` reports.
public enum ListenerEvent: Sendable, Equatable {
    /// LISTEN is in place. After a reconnect (`isReconnect`), notifications sent
    /// while it was down are lost: readers must re-query from their cursor.
    case listening(isReconnect: Bool)
    case notification(PostgresNotification)
}

/// Holds one dedicated connection in `LISTEN` and delivers what arrives as an
/// `AsyncStream`, reconnecting and re-`LISTEN`ing whenever the server goes away.
///
/// The connection lives on a thread of its own that waits in `poll(2)`, so no
/// Swift task blocks. The libpq handle never leaves that thread.
public final class NotificationListener: Sendable {
    public let events: AsyncStream<ListenerEvent>
    private let stopSignal = StopSignal()

    public init(
        settings: ConnectionSettings,
        channels: [String],
        reconnectDelay: Duration = .milliseconds(200),
        logger: Logger = Logger(label: "outlinestream.listener")
    ) {
        let (stream, continuation) = AsyncStream<ListenerEvent>.makeStream(bufferingPolicy: .unbounded)
        self.events = stream
        let signal = stopSignal
        continuation.onTermination = { _ in signal.stop() }
        let loop = ListenerLoop(
            settings: settings,
            channels: channels,
            reconnectDelay: reconnectDelay,
            continuation: continuation,
            stopSignal: signal,
            logger: logger
        )
        let thread = Thread { loop.run() }
        thread.name = "postgres-listener"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Stops listening; the stream ends within a fraction of a second.
    public func stop() { stopSignal.stop() }

    deinit { stopSignal.stop() }
}

final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    func stop() { flag.store(true, ordering: .relaxed) }
    var isStopped: Bool { flag.load(ordering: .relaxed) }
}

/// The listener thread's body. Every field is immutable or Sendable, and the libpq
/// handle is a local of `run`, so it never leaves the thread.
private struct ListenerLoop: Sendable {
    let settings: ConnectionSettings
    let channels: [String]
    let reconnectDelay: Duration
    let continuation: AsyncStream<ListenerEvent>.Continuation
    let stopSignal: StopSignal
    let logger: Logger

    func run() {
        var connectedBefore = false
        while !stopSignal.isStopped {
            guard let connection = connectAndListen() else {
                pause()
                continue
            }
            continuation.yield(.listening(isReconnect: connectedBefore))
            connectedBefore = true
            receive(on: connection)
            PQfinish(connection)
            if !stopSignal.isStopped {
                logger.warning("LISTEN connection lost; reconnecting")
                pause()
            }
        }
        continuation.finish()
    }

    private func pause() {
        let milliseconds = reconnectDelay.components.seconds * 1000 + reconnectDelay.components.attoseconds / 1_000_000_000_000_000
        usleep(UInt32(max(1, milliseconds)) * 1000)
    }

    private func connectAndListen() -> OpaquePointer? {
        guard let connection = PQconnectdb(settings.conninfo) else { return nil }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = PQerrorMessage(connection).map { String(cString: $0) } ?? "unknown error"
            logger.warning("cannot open the LISTEN connection", metadata: ["error": "\(message.trimmingCharacters(in: .whitespacesAndNewlines))"])
            PQfinish(connection)
            return nil
        }
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        for channel in channels {
            guard let quoted = PQescapeIdentifier(connection, channel, channel.utf8.count) else {
                PQfinish(connection)
                return nil
            }
            let sql = "LISTEN " + String(cString: quoted)
            PQfreemem(quoted)
            let result = PQexec(connection, sql)
            let ok = PQresultStatus(result) == PGRES_COMMAND_OK
            PQclear(result)
            if !ok {
                PQfinish(connection)
                return nil
            }
        }
        return connection
    }

    /// Waits for notifications until the connection breaks or the listener stops.
    private func receive(on connection: OpaquePointer) {
        let socket = PQsocket(connection)
        while !stopSignal.isStopped {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            if ready < 0 && errno != EINTR { return }
            if ready > 0 {
                if PQconsumeInput(connection) == 0 { return }
                while let notify = PQnotifies(connection) {
                    let event = PostgresNotification(
                        channel: String(cString: notify.pointee.relname),
                        payload: String(cString: notify.pointee.extra),
                        senderPID: notify.pointee.be_pid
                    )
                    PQfreemem(notify)
                    continuation.yield(.notification(event))
                }
            }
            if PQstatus(connection) != CONNECTION_OK { return }
        }
    }
}
