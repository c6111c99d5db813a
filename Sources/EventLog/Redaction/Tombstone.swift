import Foundation

/// What a redacted payload becomes: the same JSON object with its content
/// emptied (every string "" and every array of strings [] except the
/// structural fields a reader needs to place the event: ids, modes, states)
/// and a `redacted` object naming the redaction. It still decodes as its
/// event type, so a session whose outline was redacted still reads as
/// completed, with an empty outline.
public enum Tombstone {
    /// Names the redaction inside the tombstone.
    public struct Redaction: Sendable, Codable, Equatable {
        /// The audit record's sequence (`outline_log_audit`).
        public var audit: Int64
        public var at: String
        public var by: String
        public var reason: String
        /// SHA-256 of the JSON that was appended, hex: what the chain link covers.
        public var digest: String

        public init(audit: Int64, at: String, by: String, reason: String, digest: String) {
            self.audit = audit
            self.at = at
            self.by = by
            self.reason = reason
            self.digest = digest
        }
    }

    /// Fields that place an event rather than carry content: kept as they are.
    public static let structuralKeys: Set<String> = [
        "itemId", "mode", "step", "status", "code", "model", "responseId", "workflowId", "workflowOwner", "stepId",
        "requestedBy", "cancelledBy", "reason", "retryable", "background", "stream",
    ]

    public static func make(from json: [UInt8], redaction: Redaction) throws -> [UInt8] {
        guard var object = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
            throw RedactionError.notAnObject
        }
        for (key, value) in object where !structuralKeys.contains(key) { object[key] = emptied(value) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        object["redacted"] = try JSONSerialization.jsonObject(with: encoder.encode(redaction))
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// The redaction a payload names, if it is a tombstone.
    public static func redaction(in json: [UInt8]) -> Redaction? {
        guard json.count > 12, let text = String(bytes: json, encoding: .utf8), text.contains("\"redacted\":{"),
              let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
              let inner = object["redacted"], let data = try? JSONSerialization.data(withJSONObject: inner) else { return nil }
        return try? JSONDecoder().decode(Redaction.self, from: data)
    }

    private static func emptied(_ value: Any) -> Any {
        switch value {
        case is String: return ""
        case let array as [Any]: return array.contains { $0 is [String: Any] } ? array.map(emptied) : []
        case let object as [String: Any]: return object.mapValues { emptied($0) }
        default: return value   // numbers, booleans, null: no content
        }
    }
}

public enum RedactionError: Error, Equatable, CustomStringConvertible {
    case notAnObject
    case noSuchEvent(String)
    case notFinished
    case chainBroken(String)
    case emptyReason

    public var description: String {
        switch self {
        case .notAnObject: "the payload is not a JSON object"
        case .noSuchEvent(let what): "the session has no \(what)"
        case .notFinished: "the session has not ended: cancel it first, then redact"
        case .chainBroken(let why): "the session's chain does not verify (\(why)): nothing redacted; run outline-admin verify"
        case .emptyReason: "a redaction must say why"
        }
    }
}
