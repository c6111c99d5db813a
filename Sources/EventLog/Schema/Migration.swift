import Crypto
import Foundation

/// One numbered schema change: `NNNN_name.up.sql` and its `NNNN_name.down.sql`.
public struct Migration: Sendable, Equatable {
    /// What a migration serves. Streaming migrations hold objects only the V3
    /// streaming path uses; reverting them (`migrate down --scope streaming`)
    /// is the product's schema rollback: the V2 polling path keeps working.
    /// A core migration never refers to a streaming one's objects.
    public enum Scope: String, Sendable, CaseIterable {
        case core, streaming
    }

    public var version: Int
    public var name: String
    public var up: String
    public var down: String

    /// From a `-- scope: streaming` line in either file (the down file for
    /// migrations already applied, whose up file's checksum must not change).
    public var scope: Scope {
        for text in [up, down] {
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) where line.hasPrefix("-- scope:") {
                if let scope = Scope(rawValue: line.dropFirst("-- scope:".count).trimmingCharacters(in: .whitespaces)) { return scope }
            }
        }
        return .core
    }

    /// SHA-256 of the up file: an applied migration whose file changed afterwards
    /// is refused, since the database no longer matches what the file says.
    public var checksum: String {
        SHA256.hash(data: Data(up.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public init(version: Int, name: String, up: String, down: String) {
        self.version = version
        self.name = name
        self.up = up
        self.down = down
    }

    /// Reads every migration in `directory`, in version order. Both files of each
    /// pair must exist and versions must be unique.
    public static func load(from directory: URL) throws -> [Migration] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError.unreadableDirectory(directory.path, String(describing: error))
        }
        var ups: [Int: (name: String, file: String)] = [:]
        var downs: [Int: String] = [:]
        for file in files where file.hasSuffix(".sql") {
            let parts = file.split(separator: "_", maxSplits: 1)
            guard parts.count == 2, let version = Int(parts[0]) else {
                throw MigrationError.badFileName(file)
            }
            let rest = String(parts[1])
            if rest.hasSuffix(".up.sql") {
                if ups[version] != nil { throw MigrationError.duplicateVersion(version) }
                ups[version] = (String(rest.dropLast(".up.sql".count)), file)
            } else if rest.hasSuffix(".down.sql") {
                downs[version] = file
            } else {
                throw MigrationError.badFileName(file)
            }
        }
        return try ups.keys.sorted().map { version in
            let up = ups[version]!
            guard let downFile = downs[version] else { throw MigrationError.missingDown(up.file) }
            return Migration(
                version: version,
                name: up.name,
                up: try String(contentsOf: directory.appendingPathComponent(up.file), encoding: .utf8),
                down: try String(contentsOf: directory.appendingPathComponent(downFile), encoding: .utf8)
            )
        }
    }
}

public enum MigrationError: Error, Equatable, CustomStringConvertible {
    case unreadableDirectory(String, String)
    case badFileName(String)
    case duplicateVersion(Int)
    case missingDown(String)
    case checksumMismatch(version: Int, name: String)
    case appliedButUnknown(version: Int, name: String)
    case nothingToRevert
    case schemaBehind(pending: [Int])
    case unknownScope(String)

    public var description: String {
        switch self {
        case .unreadableDirectory(let path, let why): "cannot read the migrations folder \(path): \(why)"
        case .badFileName(let file): "\(file) is not named NNNN_name.up.sql or NNNN_name.down.sql"
        case .duplicateVersion(let version): "two up migrations have version \(version)"
        case .missingDown(let file): "\(file) has no matching .down.sql file"
        case .checksumMismatch(let version, let name):
            "migration \(version) (\(name)) was changed after it was applied; restore the file or write a new migration"
        case .appliedButUnknown(let version, let name):
            "the database has migration \(version) (\(name)) applied, which this build does not have: it is newer than this build"
        case .nothingToRevert: "no migration is applied"
        case .unknownScope(let scope): "no migration scope is called \(scope); scopes: \(Migration.Scope.allCases.map(\.rawValue).joined(separator: ", "))"
        case .schemaBehind(let pending): "the database schema is behind: migrations \(pending.map(String.init).joined(separator: ", ")) are not applied; run `outline-admin migrate up`"
        }
    }
}
