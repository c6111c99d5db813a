import Foundation
import SimulatedProvider
import Testing
import TestSupport

/// schemathesis (`--checks all`) against the real server, driven by its own
/// OpenAPI document: every constraint the server enforces is declared, every
/// declared request is accepted, no 5xx, no undocumented status, SSE events
/// match their schema, created resources are found where the links say. Two
/// passes: the API as a writer (with the stateful phase following the
/// document's links), and /admin as an operator. A stream whose cursor is
/// beyond the head waits for it (as the contract says), so requests time out
/// after 2 s: a timeout is not a finding. Each pass's report lands in artifacts/.
@Suite("The OpenAPI document is exact: schemathesis finds nothing")
struct APIFuzzTests {
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    @Test("schemathesis --checks all: zero failures as a writer and as an admin")
    func schemathesis() async throws {
        guard let schemathesis = ProcessInfo.processInfo.environment["OUTLINE_SCHEMATHESIS"] else {
            Issue.record("the fuzz pass needs schemathesis: run Tools/test.sh, or eval \"$(Tools/dev/fuzz-deps.sh)\" first")
            return
        }
        let seed = ProcessInfo.processInfo.environment["OUTLINE_FUZZ_SEED"] ?? "20261202"
        try await ServiceHarness.with(spec: TranscriptSpec(webSearches: 1, reasoningSummaries: 1, outputLength: 200, pace: .zero)) { h in
            let passes: [(String, String, [String])] = [
                ("writer", try await h.token("writer"), ["--exclude-path-regex", "^/admin"]),
                ("operator", try await h.token("operator", role: .admin), ["--include-path-regex", "^/admin", "--phases", "examples,coverage,fuzzing"]),
            ]
            for (name, token, filters) in passes {
                // The config names the caller's own namespace as `owner` (OUTLINE_FUZZ_OWNER).
                let (status, output) = try await Self.run("/usr/bin/env", arguments: [
                    "OUTLINE_FUZZ_OWNER=\(name)", schemathesis, "--config-file", Self.root.appendingPathComponent("Tests/Fuzz/schemathesis.toml").path,
                    "run", h.url + "/openapi.json", "--checks", "all", "-H", "Authorization: Bearer \(token)",
                    "--max-examples", "15", "--request-timeout", "2", "--seed", seed, "--no-color",
                ] + filters)
                let artifacts = Self.root.appendingPathComponent("artifacts")
                try? FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
                try? output.write(to: artifacts.appendingPathComponent("schemathesis-\(name).log"), atomically: true, encoding: .utf8)
                let summary = output.split(separator: "\n").suffix(40).joined(separator: "\n")
                #expect(status == 0, "schemathesis found problems as \(name) (seed \(seed)):\n\(output.suffix(12_000))")
                #expect(output.contains("No issues found") || output.contains("passed") || status == 0, "\(summary)")
            }
            #expect(try await h.call("GET", "/healthz").status == 200)
        }
    }

    static func run(_ executable: String, arguments: [String]) async throws -> (Int32, String) {
        let (status, data) = try await runCollecting(executable, arguments, includeErrors: true)
        return (status, String(decoding: data, as: UTF8.self))
    }
}
