import Foundation

/// One row whose rebuilt value is not the live one: what a verify or a dry run
/// reports, column by column, so an operator sees what a swap would change.
public struct ReadModelDifference: Sendable, Equatable {
    public enum Kind: String, Sendable { case missingFromLive = "missing from live", missingFromRebuild = "missing from rebuild", differs }
    public var sessionID: UUID
    public var kind: Kind
    /// Columns whose values differ, with the live and rebuilt values as JSON.
    public var columns: [(name: String, live: String, rebuilt: String)]

    public init(sessionID: UUID, kind: Kind, columns: [(name: String, live: String, rebuilt: String)] = []) {
        self.sessionID = sessionID
        self.kind = kind
        self.columns = columns
    }

    public static func == (a: ReadModelDifference, b: ReadModelDifference) -> Bool {
        a.sessionID == b.sessionID && a.kind == b.kind && a.columns.map(\.name) == b.columns.map(\.name)
    }

    /// Compares two rows given as JSON objects (`to_jsonb` of each side; nil when absent).
    public static func compare(id: UUID, live: String?, rebuilt: String?) throws -> ReadModelDifference {
        guard let live else { return ReadModelDifference(sessionID: id, kind: .missingFromLive) }
        guard let rebuilt else { return ReadModelDifference(sessionID: id, kind: .missingFromRebuild) }
        let liveColumns = try columns(of: live)
        let rebuiltColumns = try columns(of: rebuilt)
        let names = Set(liveColumns.keys).union(rebuiltColumns.keys).sorted()
        let differing = names.compactMap { name -> (name: String, live: String, rebuilt: String)? in
            let a = liveColumns[name] ?? "null", b = rebuiltColumns[name] ?? "null"
            return a == b ? nil : (name, a, b)
        }
        return ReadModelDifference(sessionID: id, kind: .differs, columns: differing)
    }

    /// Each column's value of a JSON row, re-serialized canonically.
    static func columns(of json: String) throws -> [String: String] {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [:] }
        var result: [String: String] = [:]
        for (key, value) in object {
            if value is NSNull {
                result[key] = "null"
            } else if JSONSerialization.isValidJSONObject(value) {
                result[key] = String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
            } else {
                result[key] = String(decoding: try JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]), as: UTF8.self)
            }
        }
        return result
    }
}
