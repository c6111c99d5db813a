import Foundation
import Testing
import TestSupport

/// The real `outline-server` executable as a child process on a test database:
/// started with the test's environment plus `environment`, its standard error
/// kept in a file (so a failed start says why), its port read from the port file.
struct ServerProcess {
    let process: Process
    let url: String
    let logPath: String

    /// The executables sit beside the test bundle in the build folder.
    static func executable(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Its log so far (the last 3,000 characters).
    var log: String { String((try? String(contentsOfFile: logPath, encoding: .utf8))?.suffix(3000) ?? "") }
    /// Its whole log.
    var wholeLog: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    static func start(database: String, providerURL: String, environment extra: [String: String] = [:]) async throws -> ServerProcess {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("outline-port-\(UUID().uuidString)").path
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = database
        environment["OUTLINE_TOKEN_SECRET"] = ServiceHarness.secret
        environment["OPENAI_BASE_URL"] = providerURL
        environment["OPENAI_API_KEY"] = nil
        environment.merge(extra) { _, new in new }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable("outline-server"))
        process.arguments = ["--port", "0", "--port-file", portFile]
        process.environment = environment
        let logPath = portFile + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let log = { String((try? String(contentsOfFile: logPath, encoding: .utf8))?.suffix(3000) ?? "") }
        do {
            // A deadline against a hung start, not a timing: a debug build starting beside a
            // full test run on two busy cores.
            let port = try await Deadline.value(of: "outline-server to write its port file", within: .seconds(180), every: .milliseconds(50)) {
                if !process.isRunning { throw Deadline.Expired(description: "outline-server exited at start (status \(process.terminationStatus)): \(log())") }
                return (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { $0.isEmpty ? nil : $0 }
            }
            return ServerProcess(process: process, url: "http://127.0.0.1:\(port)", logPath: logPath)
        } catch {
            if process.isRunning { process.terminate() }
            Issue.record("outline-server did not start: \(error); its log: \(log())")
            throw error
        }
    }

    func terminateIfRunning() { if process.isRunning { process.terminate() } }
}
