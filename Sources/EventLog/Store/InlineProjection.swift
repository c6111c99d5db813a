import PostgresClient

/// A read model kept up to date in the same transaction as each append.
///
/// The log knows nothing of what a projection builds; it hands over the events
/// being appended, numbered, and the connection whose transaction commits them.
/// A projection that throws aborts the append: nothing is committed. It runs
/// synchronously on the connection's own thread, inside the append's transaction.
public protocol InlineProjection: Sendable {
    /// Writes the projection's changes; the returned action, if any, runs only
    /// once the transaction has committed (to update an in-memory cache, say).
    func apply(_ events: [AppendedEvent], on connection: isolated PostgresConnection) throws -> (@Sendable () -> Void)?
}
