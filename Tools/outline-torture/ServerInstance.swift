import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One `outline-server` child on a fixed port, killed and restarted by the
/// torture run. Its log goes to a file in the run's folder.
final class ServerInstance: Sendable {
    let index: Int
    let port: Int
    private let binary: String
    private let environment: [String: String]
    private let logPath: String
    private let process = Mutex<Process?>(nil)

    /// Creating this file makes the instance pause its next group-commit batch
    /// inside the transaction (`OUTLINE_FAULT_COMMIT_PAUSE_FILE`).
    let commitPauseFile: String

    init(index: Int, binary: String, environment: [String: String], folder: String) {
        self.index = index
        self.binary = binary
        self.port = ServerInstance.freePort()
        self.commitPauseFile = folder + "/arm-commit-pause-\(index)"
        var environment = environment
        environment["OUTLINE_FAULT_COMMIT_PAUSE_FILE"] = commitPauseFile
        self.environment = environment
        self.logPath = folder + "/outline-server-\(index).log"
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }
    /// Lease owners are named host-pid-random: this tells whose a lease is.
    func owns(lease owner: String) -> Bool {
        process.withLock { child in child.map { $0.isRunning && owner.contains("-\($0.processIdentifier)-") } ?? false }
    }

    /// Starts it and waits until it answers `/healthz`.
    func start(migrate: Bool = false) async throws {
        guard !isRunning else { return }
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        let child = Process()
        child.executableURL = URL(fileURLWithPath: binary)
        child.arguments = ["--port", String(port)] + (migrate ? ["--migrate"] : [])
        child.environment = environment
        child.standardOutput = log
        child.standardError = log
        try child.run()
        process.withLock { $0 = child }
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            guard child.isRunning else { throw TortureFailure("instance \(index) exited at start: see \(logPath)") }
            if (try? await HTTP.get(url + "/healthz", timeout: .seconds(2)).status) == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TortureFailure("instance \(index) did not answer /healthz within 120 s: see \(logPath)")
    }

    /// SIGKILL: no cleanup, no lease released, buffers lost. Returns once it is gone.
    func kill() async {
        guard let child = process.withLock({ $0 }), child.isRunning else { return }
        Glibc.kill(child.processIdentifier, SIGKILL)
        while child.isRunning { try? await Task.sleep(for: .milliseconds(5)) }
    }

    func stop() async {
        guard let child = process.withLock({ $0 }), child.isRunning else { return }
        Glibc.kill(child.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while child.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if child.isRunning { Glibc.kill(child.processIdentifier, SIGKILL) }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { _ = $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
