import Foundation

/// The streams recorded from the real Responses API, kept in the project at
/// `Tests/Fixtures/openai-responses/` (copied from the product's shared fixtures,
/// so a clone with nothing beside it passes; `OUTLINE_FIXTURES_DIR` overrides),
/// turned back into the SSE bytes the API sent.
public enum RecordedStreams {
    public static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["OUTLINE_FIXTURES_DIR"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        // Tests/TestSupport/RecordedStreams.swift → Tests/Fixtures/openai-responses
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/openai-responses")
    }

    public static let names = ["openai-web-search-tool.1", "openai-reasoning-encrypted-content.1", "openai-error.1"]

    /// The `data:` payloads of a recorded stream, one JSON object per element.
    public static func payloads(_ name: String) throws -> [String] {
        let text = try String(contentsOf: directory.appendingPathComponent("\(name).chunks.txt"), encoding: .utf8)
        return text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    public static func type(of payload: String) -> String {
        let object = try! JSONSerialization.jsonObject(with: Data(payload.utf8)) as! [String: Any]
        return object["type"] as! String
    }

    /// The stream as the provider frames it: `event:` and `data:` lines, blank line between.
    public static func sse(_ payloads: [String], lineEnding: String = "\n") -> [UInt8] {
        var text = ""
        for payload in payloads {
            text += "event: \(type(of: payload))\(lineEnding)data: \(payload)\(lineEnding)\(lineEnding)"
        }
        return Array(text.utf8)
    }

    /// The same stream made awkward: CRLF endings, keep-alive comments, JSON split
    /// over two `data:` lines, an unknown field, and no blank line after the last event.
    /// Returns the bytes and the `data` each event must yield (two `data:` lines join with "\n").
    public static func awkwardSSE(_ payloads: [String]) -> (bytes: [UInt8], data: [String]) {
        var text = "\u{FEFF}: stream opened\r\n\r\n"
        var data: [String] = []
        for (index, payload) in payloads.enumerated() {
            text += "event: \(type(of: payload))\r\n"
            if index % 3 == 0, let comma = payload.firstIndex(of: ",") {
                text += "data: \(payload[...comma])\r\ndata: \(payload[payload.index(after: comma)...])\r\n"
                data.append("\(payload[...comma])\n\(payload[payload.index(after: comma)...])")
            } else {
                text += "data:\(payload)\r\n"
                data.append(payload)
            }
            if index % 5 == 0 { text += ": keep-alive\r\nx-unknown-field: ignored\r\n" }
            text += index == payloads.count - 1 ? "" : "\r\n"
        }
        return (Array(text.utf8), data)
    }
}
