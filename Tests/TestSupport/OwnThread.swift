import Foundation

/// Runs blocking work (a socket `recv`, a child's pipe, a semaphore) on a thread
/// of its own and awaits its result. Swift's cooperative pool has one thread per
/// core, two on CI: a test that blocked one in `recv` while waiting for the
/// in-process server (whose handlers need that pool) slowed every other test to
/// a crawl on a busy machine, and two such waits stall the process outright.
public enum OwnThread {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    public static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}
