/// An error from PostgreSQL or from talking to it, with the server's SQLSTATE when it sent one.
///
/// Callers branch on `sqlState` (for example `23505` unique violation, `40001`
/// serialization failure, or the project's own `OS...` codes raised by Schema
/// functions) rather than on message text.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server refused or failed the statement; `sqlState` says why.
        case server
        /// The connection could not be made or was lost; the pool replaces it.
        case connection
        /// A value could not be decoded into the Swift type asked for.
        case decoding
        /// The client was used wrongly (closed connection, bad argument).
        case usage
        /// No pooled connection became free within the pool's checkout timeout.
        case poolTimeout
    }

    public var kind: Kind
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var constraint: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, constraint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
    }

    public var description: String {
        var text = "PostgreSQL"
        if let sqlState { text += " \(sqlState)" }
        text += ": \(message)"
        if let detail { text += " (\(detail))" }
        return text
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// The database is too busy to answer now: the pool had no connection in
    /// time, or a statement ran past `statement_timeout` (57014).
    public var isBusy: Bool { kind == .poolTimeout || sqlState == "57014" }
    public var isConnectionError: Bool {
        kind == .connection || (sqlState?.hasPrefix("08") ?? false) || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
    }
}
