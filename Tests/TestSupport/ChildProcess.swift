import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion and returns its exit status.
///
/// Foundation's `Process` waits until every descendant closes an inherited pipe,
/// which a daemon like the PostgreSQL postmaster (started by `pg_ctl`) never does;
/// this waits for the child alone, on a thread of its own.
public func runChild(_ path: String, _ arguments: [String]) async throws -> Int32 {
    try await OwnThread.run {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawn(&pid, path, nil, nil, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status >> 8) & 0xFF
    }
}

/// Runs a program to completion and returns its exit status and what it wrote
/// (stdout, and stderr when `includeErrors`). The blocking read and wait run on
/// a thread of their own, never on Swift's cooperative pool: a test that blocked
/// a pool thread for minutes would starve the in-process server it is testing
/// (two such tests at once block both threads of a 2-core machine).
public func runCollecting(_ path: String, _ arguments: [String], includeErrors: Bool = false) async throws -> (status: Int32, output: Data) {
    try await OwnThread.run {
        let output = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = output
        if includeErrors { process.standardError = output }
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data)
    }
}
