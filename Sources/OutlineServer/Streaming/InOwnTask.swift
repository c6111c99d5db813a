/// Runs `work` in a task of its own and waits for it (cancelling it if the
/// caller is cancelled).
///
/// Why: a task's allocator keeps its high-water mark until the task ends. An SSE
/// connection's task lives for hours; if the database calls that set up its
/// stream (deep async frames through the pool and the connection's executor)
/// ran on it, every idle stream would hold their slabs (~22 KB, measured with
/// heaptrack and gdb on `swift_task_alloc`) for its whole life. Run here, they
/// grow a short-lived task's allocator instead, freed when the call returns.
func inOwnTask<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task(operation: work)
    return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
}
