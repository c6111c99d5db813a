import Foundation
import ProviderHTTP

/// The torture run's requests, through the project's libcurl client.
enum HTTP {
    static let client = CurlHTTPClient()

    struct Reply: Sendable {
        var status: Int
        var body: [UInt8]
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    }

    static func get(_ url: String, token: String? = nil, timeout: Duration = .seconds(20)) async throws -> Reply {
        try await send("GET", url, token: token, json: nil, timeout: timeout)
    }

    static func send(_ method: String, _ url: String, token: String?, json: Any?, timeout: Duration = .seconds(20)) async throws -> Reply {
        var headers: [(name: String, value: String)] = []
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        var body: [UInt8]?
        if let json {
            body = Array(try JSONSerialization.data(withJSONObject: json))
            headers.append(("Content-Type", "application/json"))
        }
        let (head, bytes) = try await client.send(HTTPRequest(method: method, url: url, headers: headers, body: body, totalTimeout: timeout))
        return Reply(status: head.status, body: bytes)
    }
}
