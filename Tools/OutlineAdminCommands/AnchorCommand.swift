import ArgumentParser
import EventLog
import Foundation

/// `outline-admin anchor -o FILE`: every session's head link, to keep outside
/// the database (an audit archive) and check later with `verify --anchors FILE`.
struct AnchorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "anchor",
        abstract: "Write every session's current head link as NDJSON, to store outside the database.",
        discussion: """
            A hash chain proves a session matches its stored head; someone who can rewrite a whole session \
            (chain and head) makes one that verifies. Keep the anchors elsewhere; `outline-admin verify \
            --anchors FILE` later proves each anchored event still carries its link, so the history up to \
            it is what it was. Lines: {"session_id": …, "sequence": …, "chain_link": "hex"}.
            """
    )
    @OptionGroup var database: DatabaseOptions
    @Option(name: [.short, .long], help: "the file to write (default: standard output)") var output: String?

    func run() async throws {
        let anchors = try await database.withPool { try await ChainAnchor.heads($0) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = Data()
        for anchor in anchors {
            text.append(try encoder.encode(anchor))
            text.append(0x0A)
        }
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: text) else { throw AdminFailure("cannot write \(output)") }
            FileHandle.standardError.write(Data("anchored \(anchors.count) session(s) in \(output)\n".utf8))
        } else {
            FileHandle.standardOutput.write(text)
        }
    }

    /// Reads an anchors file written by `anchor`.
    static func read(_ path: String) throws -> [ChainAnchor] {
        guard let data = FileManager.default.contents(atPath: path) else { throw AdminFailure("cannot read \(path)") }
        let decoder = JSONDecoder()
        return try data.split(separator: 0x0A).enumerated().map { index, line in
            do {
                return try decoder.decode(ChainAnchor.self, from: Data(line))
            } catch {
                throw AdminFailure("\(path) line \(index + 1) is not an anchor: \(error)")
            }
        }
    }
}
