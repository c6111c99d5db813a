/// An HTTP request for `CurlHTTPClient`.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// How long establishing the connection may take.
    public var connectTimeout: Duration
    /// Abort when no byte arrives for this long (a stalled stream); nil: never.
    public var stallTimeout: Duration?
    /// How long the server may take to start answering (its status line) before
    /// the transfer is abandoned as stalled; the stall timeout applies after that.
    public var firstByteTimeout: Duration
    /// Abort when the whole transfer takes longer; nil: never (streams run for minutes).
    public var totalTimeout: Duration?

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                connectTimeout: Duration = .seconds(10), stallTimeout: Duration? = nil, firstByteTimeout: Duration = .seconds(60),
                totalTimeout: Duration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.firstByteTimeout = firstByteTimeout
        self.totalTimeout = totalTimeout
    }
}

/// The status line and headers of a response.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: [HTTPHeader]

    public init(status: Int, headers: [HTTPHeader]) {
        self.status = status
        self.headers = headers
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// What a streamed response yields: its head once, then body bytes as they arrive.
public enum HTTPResponsePart: Sendable, Equatable {
    case head(HTTPResponseHead)
    case body([UInt8])
}

/// A transfer that did not complete.
public enum HTTPTransferError: Error, Equatable, CustomStringConvertible {
    /// libcurl's error: connection refused, reset, DNS, TLS... (`code` is a CURLcode).
    case transport(code: Int, message: String)
    /// No byte arrived for `stallTimeout`.
    case stalled
    /// The whole transfer took longer than `totalTimeout`.
    case timedOut
    /// The caller stopped listening or its task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .transport(let code, let message): "HTTP transfer failed (curl \(code)): \(message)"
        case .stalled: "no data arrived within the stall timeout"
        case .timedOut: "the transfer took longer than its total timeout"
        case .cancelled: "the transfer was cancelled"
        }
    }
}
