import Foundation

/// Which citation URLs the service keeps: absolute `http:` or `https:` URLs with a
/// host, of a sane length, without spaces or control characters.
///
/// A citation is provider content, and the page turns it into a link on the same
/// origin that keeps bearer tokens: a `javascript:` or `data:` URL there would run
/// script as the user. The runner drops any other citation when it maps provider
/// events (and the page checks again before it makes a link).
public enum CitationLink {
    public static let maximumLength = 4096

    public static func isAllowed(_ url: String) -> Bool {
        guard !url.isEmpty, url.utf8.count <= maximumLength else { return false }
        guard !url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value) }) else { return false }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else { return false }
        return true
    }
}
