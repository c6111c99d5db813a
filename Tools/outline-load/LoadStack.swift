import Foundation
import PostgresClient
import ProviderHTTP
#if canImport(Glibc)
import Glibc
#endif

/// The server under load: the real `outline-server` executable as a child
/// process (so its memory is its own), on a scratch database, talking to the
/// simulated provider this tool runs.
struct LoadStack {
    let process: Process
    let url: String

    static func start(binary: String, databaseURL: String, providerURL: String, secret: String, extraEnvironment: [String: String] = [:],
                      instance: Int = 0) async throws -> LoadStack {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("outline-load-port-\(getpid())-\(instance)").path
        try? FileManager.default.removeItem(atPath: portFile)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        environment["OUTLINE_TOKEN_SECRET"] = secret
        environment.merge(extraEnvironment) { $1 }
        environment["OPENAI_BASE_URL"] = providerURL
        environment["OPENAI_API_KEY"] = nil
        // One load user runs every session and holds every stream: lift the per-user limits.
        for (name, value) in [("OUTLINE_LIMIT_ACTIVE_SESSIONS", "10000"), ("OUTLINE_LIMIT_STARTS_PER_HOUR", "100000"), ("OUTLINE_LIMIT_STARTS_PER_DAY", "1000000"),
                              ("OUTLINE_LIMIT_NEW_WORKFLOWS_PER_HOUR", "100000"), ("OUTLINE_LIMIT_STREAMS", "10000"),
                              ("OUTLINE_BUDGET_USER_USD", "none"), ("OUTLINE_BUDGET_WORKFLOW_USD", "none"), ("OUTLINE_ROLLBACK_ENABLED", "false")] where environment[name] == nil {
            environment[name] = value
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--port", "0", "--port-file", portFile]
        process.environment = environment
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                return LoadStack(process: process, url: "http://127.0.0.1:\(port)")
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw LoadError("outline-server (\(binary)) did not start")
    }

    /// A started session: its id and the path of its SSE stream (with its stream token).
    struct StartedSession {
        let session: String
        let streamPath: String
    }

    /// Starts a session on `workflow` through the real API (`POST …/start`).
    func startSession(_ workflow: String, body: String, http: CurlHTTPClient, token: String) async throws -> StartedSession {
        try await Self.startSession(at: url, workflow, body: body, http: http, token: token)
    }

    /// Starts a session on `workflow` through the API at `url` (an instance or the proxy in front of several).
    static func startSession(at url: String, _ workflow: String, body: String, http: CurlHTTPClient, token: String) async throws -> StartedSession {
        let (head, reply) = try await http.send(ProviderHTTP.HTTPRequest(
            method: "POST", url: url + "/api/workflows/\(workflow)/outline-generation/start",
            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: Array(body.utf8)))
        guard head.status == 201, let object = try JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any],
              let session = object["sessionId"] as? String, let streamToken = object["streamToken"] as? String else {
            throw LoadError("start answered \(head.status): \(String(decoding: reply, as: UTF8.self))")
        }
        return StartedSession(session: session, streamPath: "/api/workflows/\(workflow)/outline-generation/stream?sessionId=\(session)&token=\(streamToken)")
    }

    /// The server's resident memory now and at its peak, in KiB (from /proc).
    var memory: (rss: Int, peak: Int) {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            status.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        }
        return (field("VmRSS:"), field("VmHWM:"))
    }

    var threads: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("Threads:") }.flatMap { Int($0.split(separator: "\t").last ?? "") } ?? 0
    }

    /// CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    var serverCPUSeconds: Double { Self.cpuSeconds(pid: process.processIdentifier) }

    /// CPU seconds every PostgreSQL process on this host has used (their sum).
    static func postgresCPUSeconds() -> Double {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).reduce(0) { total, pid in
            let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix("postgres") ? total + cpuSeconds(pid: pid) : total
        }
    }

    /// Busy CPU seconds of the whole machine, every core (from /proc/stat).
    static func machineBusySeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let line = stat.split(separator: "\n").first else { return 0 }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 5 else { return 0 }
        let idle = fields[3] + fields[4] // idle + iowait
        return (fields.reduce(0, +) - idle) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func stop() async {
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Many connections need many descriptors: raise the soft limit to the hard one
    /// (the server child inherits it).
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(limit.rlim_cur)
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
