import Foundation

/// Where and how to reach PostgreSQL: a libpq connection string, either a URL
/// (`postgresql://user@host:5432/db?host=/socket/dir`) or `key=value` pairs.
///
/// libpq parses both forms itself, so every libpq option (sockets, SSL, timeouts,
/// `application_name`) works as documented by PostgreSQL.
public struct ConnectionSettings: Sendable, CustomStringConvertible {
    public var conninfo: String

    public init(_ conninfo: String) {
        self.conninfo = conninfo
    }

    /// Reads `DATABASE_URL` from the environment.
    public static func fromEnvironment(_ environment: [String: String]) -> ConnectionSettings? {
        guard let url = environment["DATABASE_URL"], !url.isEmpty else { return nil }
        return ConnectionSettings(url)
    }

    /// The same server and credentials, another database.
    public func withDatabase(_ name: String) -> ConnectionSettings {
        guard let schemeEnd = conninfo.range(of: "://") else {
            // key=value form: a later key overrides an earlier one.
            return ConnectionSettings(conninfo + " dbname='\(name)'")
        }
        let afterScheme = conninfo[schemeEnd.upperBound...]
        let queryStart = afterScheme.firstIndex(of: "?") ?? conninfo.endIndex
        let authorityEnd = afterScheme[..<queryStart].firstIndex(of: "/") ?? queryStart
        return ConnectionSettings(String(conninfo[..<authorityEnd]) + "/" + name + String(conninfo[queryStart...]))
    }

    /// These libpq keywords added, each unless the connection string already names it.
    public func adding(_ keywords: [(key: String, value: String)]) -> ConnectionSettings {
        var text = conninfo
        let isURL = text.contains("://")
        for (key, value) in keywords where !text.contains("\(key)=") && !text.contains("\(key) =") {
            if isURL {
                let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
                text += (text.contains("?") ? "&" : "?") + "\(key)=\(encoded)"
            } else {
                let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
                text += " \(key)='\(escaped)'"
            }
        }
        return ConnectionSettings(text)
    }

    /// The connection string with any password replaced, safe for logs.
    public var description: String {
        var text = conninfo
        // URL form: scheme://user:password@host
        if let schemeEnd = text.range(of: "://"), let at = text[schemeEnd.upperBound...].firstIndex(of: "@") {
            let userInfo = text[schemeEnd.upperBound..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        // key=value form and URL query parameters: password=...
        for marker in ["password=", "password = "] {
            while let range = text.range(of: marker), !text[range.upperBound...].hasPrefix("***") {
                let end = text[range.upperBound...].firstIndex(where: { $0 == " " || $0 == "&" }) ?? text.endIndex
                text.replaceSubrange(range.upperBound..<end, with: "***")
            }
        }
        return text
    }
}
