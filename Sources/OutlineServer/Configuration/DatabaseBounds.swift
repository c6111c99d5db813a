import PostgresClient

/// How long the service waits on its database, so that a slow or vanished
/// PostgreSQL answers requests with a clear 503 instead of wedging them: a
/// connection from the pool, one statement, one connect; TCP keepalives notice
/// a peer that vanished without closing.
public struct DatabaseBounds: Sendable, Equatable {
    /// Waiting for a free pooled connection (`OUTLINE_DB_CHECKOUT_TIMEOUT_MS`).
    public var checkoutTimeout: Duration = .seconds(5)
    /// `statement_timeout` of every service connection (`OUTLINE_DB_STATEMENT_TIMEOUT_MS`).
    public var statementTimeoutMilliseconds: Int = 15_000
    /// libpq `connect_timeout` (`OUTLINE_DB_CONNECT_TIMEOUT_SECONDS`).
    public var connectTimeoutSeconds: Int = 5

    public init() {}

    /// `settings` with these bounds, TCP keepalives and `application_name`
    /// `outline-server` (so an operator tells the service's connections apart in
    /// `pg_stat_activity`), unless the connection string already sets them (an
    /// operator's explicit choice wins: one name per instance, say).
    public func applied(to settings: ConnectionSettings) -> ConnectionSettings {
        settings.adding([
            ("application_name", "outline-server"),
            ("connect_timeout", "\(connectTimeoutSeconds)"),
            ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
            ("options", "-c statement_timeout=\(statementTimeoutMilliseconds)"),
        ])
    }
}
