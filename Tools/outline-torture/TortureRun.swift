import Foundation
import OutlineAuth
import PostgresClient
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One torture run: the processes, the sessions and their readers, the faults.
final class TortureRun: Sendable {
    struct Session: Sendable {
        var id: String
        var workflow: String
        var streamToken: String
        var reader: Task<(events: [ResumingReader.Received], connections: Int), Never>
    }

    let seed: UInt64
    let folder: String
    let instances: [ServerInstance]
    let proxy: ChaosProxy
    let provider: Process
    let providerURL: String
    let pool: PostgresPool
    let adminSettings: ConnectionSettings
    let databaseName: String
    let binaries: String
    let databaseURL: String
    let postgresScript: String
    let userToken: String
    let adminToken: String
    let sessionCount: Int
    private let started = Mutex<[Session]>([])
    private let figures = Mutex<Figures>(Figures())
    private let clock = ContinuousClock.now

    struct Figures: Sendable {
        var failovers: [Duration] = []
        var databaseStalls: [Duration] = []
        var log: [String] = []
    }

    private init(seed: UInt64, folder: String, instances: [ServerInstance], proxy: ChaosProxy, provider: Process, providerURL: String, pool: PostgresPool,
                 adminSettings: ConnectionSettings, databaseName: String, binaries: String, databaseURL: String, postgresScript: String,
                 userToken: String, adminToken: String, sessionCount: Int) {
        self.seed = seed
        self.folder = folder
        self.instances = instances
        self.proxy = proxy
        self.provider = provider
        self.providerURL = providerURL
        self.pool = pool
        self.adminSettings = adminSettings
        self.databaseName = databaseName
        self.binaries = binaries
        self.databaseURL = databaseURL
        self.postgresScript = postgresScript
        self.userToken = userToken
        self.adminToken = adminToken
        self.sessionCount = sessionCount
    }

    static func prepare(seed: UInt64, sessions: Int, outputLength: Int, paceMs: Int, postgresScript: String, folder: String?) async throws -> TortureRun {
        guard let base = ConnectionSettings.fromEnvironment(ProcessInfo.processInfo.environment) else {
            throw TortureFailure("DATABASE_URL is not set: eval \"$(Tools/dev/postgres.sh env)\"")
        }
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        for name in ["outline-server", "simulated-provider", "outline-admin"] where !FileManager.default.isExecutableFile(atPath: binaries + "/" + name) {
            throw TortureFailure("\(binaries)/\(name) is missing: swift build first")
        }
        let folder = folder ?? NSTemporaryDirectory() + "outline-torture-\(seed)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let databaseName = "outline_torture_\(getpid())"
        let admin = try await PostgresConnection.connect(base)
        try await admin.execute("DROP DATABASE IF EXISTS \(databaseName) WITH (FORCE)")
        try await admin.execute("CREATE DATABASE \(databaseName)")
        await admin.close()
        let settings = base.withDatabase(databaseName)

        let providerPort = ServerInstance.freePort()
        let provider = Process()
        provider.executableURL = URL(fileURLWithPath: binaries + "/simulated-provider")
        provider.arguments = ["--port", String(providerPort), "--output-length", String(outputLength), "--pace-ms", String(paceMs),
                              "--web-searches", "2", "--reasoning-summaries", "2", "--seed", String(seed % 100_000)]
        provider.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        provider.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try provider.run()
        let providerURL = "http://127.0.0.1:\(providerPort)"
        let proxy = try ChaosProxy(targetPort: providerPort)

        let secret = "torture-secret-" + String(repeating: "x", count: 32)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = settings.conninfo
        environment["OUTLINE_TOKEN_SECRET"] = secret
        environment["OPENAI_BASE_URL"] = proxy.url
        environment["OPENAI_API_KEY"] = nil
        environment["OUTLINE_LEASE_MS"] = "3000"
        environment["OUTLINE_ADOPTION_INTERVAL_MS"] = "500"
        environment["OUTLINE_PROVIDER_STALL_SECONDS"] = "2"
        environment["OUTLINE_DB_CONNECT_TIMEOUT_SECONDS"] = "2"
        // Both instances compact finished sessions every second, as soon as they end:
        // compaction races the kills and the PostgreSQL crash, and the readers and
        // the proofs below read those sessions from segments.
        environment["OUTLINE_COMPACTION_INTERVAL_SECONDS"] = "1"
        environment["OUTLINE_COMPACTION_SETTLE_SECONDS"] = "0"
        environment["OUTLINE_COMPACTION_PACK_WAIT_SECONDS"] = "0"
        for (name, value) in [("OUTLINE_LIMIT_ACTIVE_SESSIONS", "1000"), ("OUTLINE_LIMIT_STARTS_PER_HOUR", "10000"), ("OUTLINE_LIMIT_STARTS_PER_DAY", "10000"),
                              ("OUTLINE_LIMIT_NEW_WORKFLOWS_PER_HOUR", "10000"), ("OUTLINE_LIMIT_STREAMS", "1000"),
                              // Money and the automatic rollback are proven elsewhere; here they would only end sessions the proofs follow.
                              ("OUTLINE_BUDGET_USER_USD", "none"), ("OUTLINE_BUDGET_WORKFLOW_USD", "none"), ("OUTLINE_ROLLBACK_ENABLED", "false")] {
            environment[name] = value
        }
        let instances = (0..<2).map { ServerInstance(index: $0, binary: binaries + "/outline-server", environment: environment, folder: folder) }
        // Deadline waits for the provider, then the first instance migrates the fresh database.
        let deadline = ContinuousClock.now + .seconds(60)
        while (try? await HTTP.get(providerURL + "/v1/simulator/stats", timeout: .seconds(2)).status) != 200 {
            guard ContinuousClock.now < deadline, provider.isRunning else { throw TortureFailure("the simulated provider did not start") }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await instances[0].start(migrate: true)
        try await instances[1].start()
        let signer = TokenSigner(secret: secret)
        let expiry = Date().addingTimeInterval(7200)
        return TortureRun(seed: seed, folder: folder, instances: instances, proxy: proxy, provider: provider, providerURL: providerURL,
                          pool: PostgresPool(settings: settings, maximumConnections: 4), adminSettings: base, databaseName: databaseName,
                          binaries: binaries, databaseURL: settings.conninfo, postgresScript: postgresScript,
                          userToken: try await signer.sign(AccessToken(subject: "writer", role: .user, expiresAt: expiry)),
                          adminToken: try await signer.sign(AccessToken(subject: "operator", role: .admin, expiresAt: expiry)),
                          sessionCount: sessions)
    }

    func note(_ text: String) {
        let line = String(format: "[%7.2f s] ", (ContinuousClock.now - clock).seconds) + text
        say(line)
        figures.withLock { $0.log.append(line) }
    }

    var liveURLs: [String] { instances.filter(\.isRunning).map(\.url) }

    // MARK: Sessions

    /// Starts a session on `instance` (or any live one), and its reader.
    @discardableResult
    func startSession(_ workflow: String, on instance: Int? = nil, clarify: Bool = false) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let base = instance.map { instances[$0].url } ?? liveURLs.first ?? instances[0].url
            if let reply = try? await HTTP.send("POST", base + "/api/workflows/\(workflow)/outline-generation/start", token: userToken,
                                                json: ["prompt": "Torture \(workflow): tidal energy", "skipClarification": !clarify]),
               reply.status == 201 || reply.status == 200,
               let id = reply.json?["sessionId"] as? String, let token = reply.json?["streamToken"] as? String {
                let reader = ResumingReader(session: id, workflow: workflow, streamToken: token, instances: instances.map(\.url),
                                            seed: seed &+ UInt64(abs(workflow.hashValue % 10_000)))
                let task = Task { await reader.run(until: .now + .seconds(900)) }
                started.withLock { $0.append(Session(id: id, workflow: workflow, streamToken: token, reader: task)) }
                return id
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TortureFailure("could not start a session on \(workflow)")
    }

    /// Answers the clarification questions of `session` whenever they arrive, mid-run.
    func answerClarification(_ session: String, workflow: String) async {
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let base = liveURLs.first ?? instances[0].url
            if let row = try? await HTTP.get(base + "/api/workflows/\(workflow)/outline-generation/status?sessionId=\(session)", token: userToken).json {
                if row["status"] as? String == "awaiting_clarification", let questions = row["clarificationQuestions"] as? [String] {
                    let reply = try? await HTTP.send("POST", base + "/api/workflows/\(workflow)/outline-generation/clarifications", token: userToken,
                                                     json: ["sessionId": session, "answers": questions.map { "Answer to: \($0)" }])
                    if reply?.status == 202 { note("answered \(questions.count) clarification questions of \(session.prefix(8))"); return }
                } else if let status = row["status"] as? String, status != "pending" {
                    return
                }
            }
            try? await Task.sleep(for: .milliseconds(150))
        }
    }

    // MARK: Database observations (retried: PostgreSQL may be crashing)

    func query<T: Sendable>(_ body: @Sendable (PostgresPool) async throws -> T) async -> T? {
        for _ in 0..<100 {
            if let value = try? await body(pool) { return value }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    func eventTypes(_ session: String) async -> [String] {
        await query { pool in
            try await pool.query("SELECT event_type FROM outline_events WHERE session_id = $1::uuid ORDER BY sequence", session).map { try $0.decode(String.self, at: 0) }
        } ?? []
    }

    func logHead() async -> Int64 {
        await query { pool in try await pool.query("SELECT coalesce(max(position), 0) FROM outline_events")[0].decode(Int64.self, at: 0) } ?? 0
    }

    /// Sessions whose lease `instance` holds now, with their heads.
    func leasedSessions(by instance: ServerInstance) async -> [(String, Int32)] {
        let rows = await query { pool in
            try await pool.query("SELECT l.session_id::text, l.owner, s.head_sequence FROM outline_session_leases l JOIN outline_event_streams s USING (session_id)")
                .map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1), try $0.decode(Int32.self, at: 2)) }
        } ?? []
        return rows.filter { instance.owns(lease: $0.1) }.map { ($0.0, $0.2) }
    }

    /// Whether a running instance holds the session's lease now.
    func adopted(_ session: String) async -> Bool {
        let owner = await query { pool in
            try await pool.query("SELECT owner FROM outline_session_leases WHERE session_id = $1::uuid", session).first?.decode(String.self, at: 0) ?? ""
        } ?? ""
        return instances.contains { $0.owns(lease: owner) }
    }

    func head(_ session: String) async -> Int32 {
        await query { pool in try await pool.query("SELECT head_sequence FROM outline_event_streams WHERE session_id = $1::uuid", session).first?.decode(Int32.self, at: 0) ?? 0 } ?? 0
    }

    // MARK: Faults

    func kill(_ index: Int, restartAfter pause: Duration) async {
        let victim = instances[index]
        let other = instances[1 - index]
        // One instance always serves, and a dead one is not killed again (its one
        // pending restart brings it back): wait until both run.
        let deadline = ContinuousClock.now + .seconds(120)
        while !(other.isRunning && victim.isRunning) {
            guard ContinuousClock.now < deadline else { note("instance \(index) or its peer did not come back within 120 s; no kill"); return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        let leased = await leasedSessions(by: victim)
        let killedAt = ContinuousClock.now
        await victim.kill()
        note("SIGKILL instance \(index) holding \(leased.count) leases; restart in \(pause)")
        // Heads after death: a commit the victim had sent still lands (PostgreSQL
        // finishes it), and is not the adopter's work.
        try? await Task.sleep(for: .milliseconds(20))
        var after: [(String, Int32)] = []
        for (session, _) in leased { after.append((session, await head(session))) }
        measureFailover(after, since: killedAt)
        Task {
            try? await Task.sleep(for: pause)
            // An instance refuses to start while PostgreSQL is down: try again until it serves.
            for attempt in 1...60 {
                do { try await victim.start(); return } catch {
                    if attempt == 1 { self.note("instance \(index) did not restart (\(error)); retrying") }
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        }
    }

    /// Kill → the next event of one of the victim's sessions committed by an adopter.
    private func measureFailover(_ leased: [(String, Int32)], since killedAt: ContinuousClock.Instant) {
        guard !leased.isEmpty else { return }
        Task {
            while ContinuousClock.now - killedAt < .seconds(120) {
                // An adopter holds the lease and appended: a commit the victim sent before
                // it died (PostgreSQL finishes it) is not a failover.
                for (session, before) in leased {
                    guard await adopted(session) else { continue }
                    guard await head(session) > before else { continue }
                    let elapsed = ContinuousClock.now - killedAt
                    figures.withLock { $0.failovers.append(elapsed) }
                    note("failover: \(session.prefix(8)) continued \(elapsed) after the kill")
                    return
                }
                try? await Task.sleep(for: .milliseconds(25))
            }
        }
    }

    func crashDatabase() async {
        // A recent checkpoint, as a production server takes every few minutes: recovery
        // replays what came after it (on a test cluster with a 15-minute checkpoint
        // timeout that is every earlier test's WAL, a minute of replay).
        if let url = ProcessInfo.processInfo.environment["OUTLINE_SUPERUSER_DATABASE_URL"],
           let superuser = try? await PostgresConnection.connect(ConnectionSettings(url)) {
            _ = try? await superuser.execute("CHECKPOINT")
            await superuser.close()
        }
        let before = await logHead()
        let crashedAt = ContinuousClock.now
        let status = await Self.runBlocking("/bin/bash", [postgresScript, "crash"])
        note("PostgreSQL crashed and recovered (pg_ctl restart -m immediate, exit \(status)) in \(ContinuousClock.now - crashedAt)")
        Task {
            while ContinuousClock.now - crashedAt < .seconds(120) {
                if await logHead() > before {
                    let stall = ContinuousClock.now - crashedAt
                    figures.withLock { $0.databaseStalls.append(stall) }
                    note("appends resumed \(stall) after the crash began")
                    return
                }
                try? await Task.sleep(for: .milliseconds(25))
            }
        }
    }

    /// A session whose create is held at the proxy: its instance dies after
    /// `provider.request_started`, before `provider.response_accepted`.
    func killBetweenRequestAndAcceptance(_ workflow: String) async throws {
        let index = instances[0].isRunning && instances[1].isRunning ? Int(seed % 2) : (instances[0].isRunning ? 0 : 1)
        while !instances[index].isRunning { try await Task.sleep(for: .milliseconds(50)) }
        proxy.hold(requestsContaining: "o3-deep-research")
        let session = try await startSession(workflow, on: index)
        let deadline = ContinuousClock.now + .seconds(60)
        while await !eventTypes(session).contains("provider.request_started") || proxy.held == 0 {
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let types = await eventTypes(session)
        await kill(index, restartAfter: .milliseconds(500))
        // The create never reaches the provider: its connection is dropped at the proxy.
        proxy.release(forward: false)
        note("killed \(session.prefix(8)) after \(types.last ?? "nothing") (request_started: \(types.contains("provider.request_started")), accepted: \(types.contains("provider.response_accepted")))")
    }

    /// A session whose instructions call is held at the proxy: its instance dies mid-preparation.
    func killDuringPreparation(_ workflow: String) async throws {
        let index = instances[0].isRunning && instances[1].isRunning ? Int((seed / 2) % 2) : (instances[0].isRunning ? 0 : 1)
        while !instances[index].isRunning { try await Task.sleep(for: .milliseconds(50)) }
        proxy.hold(requestsContaining: "gpt-4.1-mini")
        let session = try await startSession(workflow, on: index)
        let deadline = ContinuousClock.now + .seconds(60)
        while proxy.held == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let types = await eventTypes(session)
        await kill(index, restartAfter: .milliseconds(500))
        proxy.release(forward: true)
        note("killed \(session.prefix(8)) during preparation, after \(types.last ?? "nothing")")
    }

    /// Kill an instance, then kill whoever adopts one of its sessions as soon as it holds the lease.
    func killDuringAdoption() async {
        let index = await leasedSessions(by: instances[0]).count >= (await leasedSessions(by: instances[1])).count ? 0 : 1
        let leased = await leasedSessions(by: instances[index])
        guard !leased.isEmpty else { note("adoption kill skipped: no leases"); return }
        await kill(index, restartAfter: .milliseconds(100))
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            for adopter in instances where adopter.isRunning {
                let held = await leasedSessions(by: adopter).map(\.0)
                if leased.contains(where: { held.contains($0.0) }) {
                    note("instance \(adopter.index) adopted; killing it during adoption")
                    await kill(adopter.index, restartAfter: .milliseconds(300))
                    return
                }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        note("no adoption seen within 30 s")
    }

    func killProjectionRebuild(after delay: Duration) async {
        var pid: pid_t = 0
        let path = binaries + "/outline-admin"
        let arguments: [String] = [path, "projections", "rebuild", "--swap", "--database-url", databaseURL]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { note("rebuild did not start"); return }
        try? await Task.sleep(for: delay)
        var status: Int32 = 0
        let finished = waitpid(pid, &status, WNOHANG) == pid
        if !finished {
            Glibc.kill(pid, SIGKILL)
            let reaper = pid
            await Self.runBlocking { var ignored: Int32 = 0; while waitpid(reaper, &ignored, 0) == -1 && errno == EINTR {} }
        }
        note("SIGKILL projection rebuild --swap after \(delay) (\(finished ? "it had finished" : "mid-run"))")
    }

    /// Arms an instance's commit pause and kills it once a group-commit batch
    /// sits inside its transaction: its rows are written and never
    /// committed, its runners' acknowledgements never came, and the adopters
    /// continue from what did commit.
    func killInsideCommitBatch() async {
        let deadline = ContinuousClock.now + .seconds(60)
        // Both must run first: `kill` waits for that, and the pause must not run out meanwhile.
        while !(instances[0].isRunning && instances[1].isRunning) {
            guard ContinuousClock.now < deadline else { note("an instance did not come back; no kill inside a batch"); return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        // The instance running more sessions: its group-commit writer is the busier.
        let index = await leasedSessions(by: instances[0]).count >= (await leasedSessions(by: instances[1])).count ? 0 : 1
        let victim = instances[index]
        _ = FileManager.default.createFile(atPath: victim.commitPauseFile, contents: nil)
        // The hook consumes the file inside the transaction, then holds it open for 10 s.
        while FileManager.default.fileExists(atPath: victim.commitPauseFile) {
            guard ContinuousClock.now < deadline else {
                try? FileManager.default.removeItem(atPath: victim.commitPauseFile)
                note("no batch on instance \(index) within 60 s; no kill inside a batch")
                return
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        note("instance \(index) paused a group-commit batch inside its transaction")
        await kill(index, restartAfter: .milliseconds(500))
    }

    func apply(_ fault: Fault, number: Int) async throws {
        switch fault {
        case .killInstance(let index, let pause): await kill(index, restartAfter: pause)
        case .crashDatabase: await crashDatabase()
        case .cutProvider: note("cut \(proxy.cut()) provider connections")
        case .stallProvider(let duration): proxy.stall(for: duration); note("provider silent for \(duration)")
        case .killBetweenRequestAndAcceptance: try await killBetweenRequestAndAcceptance("wf-torture-charge-\(number)")
        case .killDuringPreparation: try await killDuringPreparation("wf-torture-prep-\(number)")
        case .killDuringAdoption: await killDuringAdoption()
        case .killProjectionRebuild(let after): await killProjectionRebuild(after: after)
        case .killInsideCommitBatch: await killInsideCommitBatch()
        }
    }

    // MARK: The run

    func execute(faults count: Int) async throws -> TortureVerdict {
        var random = SeededRandom(seed: seed)
        let schedule = Fault.schedule(count: count, using: &random)
        say("schedule (seed \(seed)):")
        for (number, entry) in schedule.enumerated() { say("  \(number + 1). after \(entry.pause): \(entry.fault)") }
        for index in 0..<sessionCount { try await startSession("wf-torture-\(index)") }
        var answering: Task<Void, Never>?
        for (number, entry) in schedule.enumerated() {
            try await Task.sleep(for: entry.pause)
            // The clarification variant starts among the faults, so its questions are
            // asked and answered while instances die and PostgreSQL crashes.
            if number == 3 {
                let clarifying = try await startSession("wf-torture-clarify", clarify: true)
                answering = Task { await answerClarification(clarifying, workflow: "wf-torture-clarify") }
            }
            // New sessions keep arriving, so every fault meets live runs.
            if number % 3 == 2 { try await startSession("wf-torture-late-\(number)") }
            try await apply(entry.fault, number: number + 1)
        }
        note("schedule done; waiting for every instance and session")
        let deadline = ContinuousClock.now + .seconds(300)
        while !instances.allSatisfy(\.isRunning) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        await answering?.value
        let sessions = started.withLock { $0 }
        var results: [(Session, [ResumingReader.Received], Int)] = []
        for session in sessions {
            let (events, connections) = await session.reader.value
            results.append((session, events, connections))
        }
        note("every reader finished")
        let compacted = await query { pool in try await pool.query("SELECT count(*) FROM outline_compacted_sessions")[0].decode(Int64.self, at: 0) } ?? 0
        note("\(compacted) of \(sessions.count) sessions were compacted by the instances during the run (their readers and the proofs below read segments)")
        let verdict = await TortureVerdict.check(run: self, results: results, faults: schedule.count)
        return verdict.with(figures: figures.withLock { $0 })
    }

    func tearDown(keepDatabase: Bool) async {
        for instance in instances { await instance.stop() }
        Glibc.kill(provider.processIdentifier, SIGTERM)
        await pool.shutdown()
        if !keepDatabase, let admin = try? await PostgresConnection.connect(adminSettings) {
            _ = try? await admin.execute("DROP DATABASE IF EXISTS \(databaseName) WITH (FORCE)")
            await admin.close()
        }
    }

    /// Runs blocking work on a thread of its own (a child's wait), never on the cooperative pool.
    static func runBlocking(_ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            Thread { work(); continuation.resume() }.start()
        }
    }

    /// posix_spawn and waitpid on a thread of its own (Foundation's
    /// `waitUntilExit` was seen to hang once the child had exited).
    static func runBlocking(_ path: String, _ arguments: [String]) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread {
                var pid: pid_t = 0
                let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
                defer { argv.forEach { free($0) } }
                guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { continuation.resume(returning: -1); return }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: (status >> 8) & 0xFF)
            }.start()
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
