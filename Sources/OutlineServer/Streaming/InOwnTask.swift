/// Runs `work` in a task of its own and waits for it (cancelling it if the
/// caller is cancelled).
///
/// Why: a task's allocator keeps its high-water mark until the task ends. An SSE
/// connection's task lives for hours; deep calls made on it (the request's
/// middleware and route, see `OwnTaskResponder`, and the stream's backlog
/// queries) would leave their slabs with every idle stream for its whole life.
/// Run here, they grow a short-lived task's allocator, freed when it returns.
func inOwnTask<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task(operation: work)
    return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
}
