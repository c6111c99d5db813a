import Foundation

/// A serial executor that runs every job on one thread of its own.
///
/// libpq calls block until the server answers. An actor whose executor is one of
/// these runs those calls on its own thread, so they never occupy a thread of
/// Swift's cooperative pool, and the C handle the actor owns is only ever touched
/// from that one thread.
public final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    // `condition` guards `pending` and `stopping`; the worker thread is the only reader.
    private let condition = NSCondition()
    private var pending: [UnownedJob] = []
    private var stopping = false

    public init(name: String) {
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        pending.append(unowned)
        condition.signal()
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets the thread finish the jobs already queued, then exit.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping {
                condition.unlock()
                return
            }
            swap(&batch, &pending)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
