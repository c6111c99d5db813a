import PostgresClient

/// A read model kept up to date in the same transaction as each append.
///
/// The log knows nothing of what a projection builds; it hands over the events
/// being appended, numbered, and the connection whose transaction commits them.
/// A projection that throws aborts the append: nothing is committed.
public protocol InlineProjection: Sendable {
    func apply(_ events: [AppendedEvent], on connection: PostgresConnection) async throws
}
