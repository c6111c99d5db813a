import BenchmarkSupport
import Foundation
import PostgresClient
import ProviderHTTP
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16's scaling figures: the same fan-out through nginx with 1, 2 and 3
/// instances (`topology`), or more and more sessions appending at once on a
/// fixed number of instances until the primary's write path stops keeping up
/// (`write-ramp`). Each step is a fresh `TopologyRun`; besides what the clients
/// read, it prints what the primary did for it (connections per instance,
/// transactions, statements per append commit, NOTIFYs, CPU) and what the
/// standby took off it.
struct TopologyScenario {
    struct Step {
        let instances: Int
        let sessions: Int
        let clients: Int
    }

    let primary: ConnectionSettings
    let standby: ConnectionSettings?
    let serverBinary: String
    let steps: [Step]
    var paceMs = 25
    var outputLength = 3000
    var disconnectProbability = 0.0
    var reader = ReaderKind.epoll

    /// One step's figures, for the closing table.
    struct Row {
        let step: Step
        let outcome: FanOutMeasurement.Outcome
        let seconds: Double
        let appended: Double, commits: Double, appendP99: Double
        let primaryConnections: Int, perInstance: Double
        let transactions: Double, statements: Double?
        let notifications: Double
        let primaryCores: Double, standbyCores: Double?, serverCores: Double, machineCores: Double
    }

    func run() async throws {
        print("# \(ProcessInfo.processInfo.activeProcessorCount) cores; nginx, \(steps.map(\.instances).max() ?? 1) instance(s) at most, PostgreSQL primary"
              + (standby == nil ? "" : " + streaming standby") + ", the simulated provider and the clients all on this host")
        if standby == nil { print("# no standby (OUTLINE_STANDBY_DATABASE_URL unset; Tools/dev/postgres.sh standby start): every read goes to the primary") }
        var rows: [Row] = []
        for step in steps {
            rows.append(try await measure(step))
        }
        print("\n| instances | clients / sessions | deliveries/s | p50 / p99 ms | wrong clients | events appended/s | append commits/s (events each) | append p99 ≤ ms | primary connections (per instance) | primary transactions/s | statements/s (per append commit) | NOTIFY/s sent (heard) | CPU cores: primary / standby / instances / machine |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows {
            let perCommit = row.statements.map { String(format: "%.0f (%.1f)", $0 / row.seconds, $0 / max(row.commits, 1)) } ?? "n/a"
            print(String(format: "| %d | %d / %d | %.0f | %.1f / %.1f | %d | %.0f | %.0f (%.1f) | %.0f | %d (%.1f) | %.0f | %@ | %.0f (%.0f) | %.2f / %@ / %.2f / %.2f |",
                         row.step.instances, row.step.clients, row.step.sessions, Double(row.outcome.delivered) / row.seconds,
                         row.outcome.latency.percentile(0.5), row.outcome.latency.percentile(0.99), row.outcome.wrongClients,
                         row.appended / row.seconds, row.commits / row.seconds, row.appended / max(row.commits, 1), row.appendP99 * 1000,
                         row.primaryConnections, row.perInstance, row.transactions / row.seconds, perCommit,
                         row.notifications / Double(row.step.instances) / row.seconds, row.notifications / row.seconds,
                         row.primaryCores, row.standbyCores.map { String(format: "%.2f", $0) } ?? "–", row.serverCores, row.machineCores))
        }
    }

    func measure(_ step: Step) async throws -> Row {
        try await TopologyRun(primary: primary, standby: standby, serverBinary: serverBinary, instances: step.instances,
                              paceMs: paceMs, outputLength: outputLength) { parts in
            let http = CurlHTTPClient()
            let peaks = ConnectionPeaks()
            var countersBefore: [InstanceCounters] = [], countersAfter: [InstanceCounters] = []
            var primaryBefore = DatabaseServerProbe.Snapshot(), primaryAfter = DatabaseServerProbe.Snapshot()
            var standbyBefore: DatabaseServerProbe.Snapshot?, standbyAfter: DatabaseServerProbe.Snapshot?
            var serverCPU = 0.0, machineCPU = 0.0, nginxCPU = 0.0, ownCPU = 0.0
            var serverBusy = 0.0, machineBusy = 0.0, nginxBusy = 0.0, ownBusy = 0.0
            let servers = parts.servers
            func serversCPU() -> Double { servers.reduce(0) { $0 + $1.serverCPUSeconds } }
            peaks.start(parts.primaryProbe)
            let outcome = try await FanOutMeasurement(clients: step.clients, sessions: step.sessions, disconnectProbability: disconnectProbability,
                                                      reader: reader, release: parts.release, workflowPrefix: "wf-topology")
                .run(url: parts.proxyURL, pool: parts.pool, signer: parts.signer, windowOpens: {
                    for server in servers { countersBefore.append(try await InstanceCounters.scrape(server.url, http: http)) }
                    primaryBefore = try await parts.primaryProbe.snapshot()
                    standbyBefore = try await parts.standbyProbe?.snapshot()
                    (serverCPU, machineCPU) = (serversCPU(), LoadStack.machineBusySeconds())
                    (nginxCPU, ownCPU) = (FloorScenario.cpuSeconds(tree: parts.nginx.processIdentifier), LoadStack.cpuSeconds(pid: getpid()))
                }, windowCloses: { elapsed in
                    (serverBusy, machineBusy) = ((serversCPU() - serverCPU) / elapsed, (LoadStack.machineBusySeconds() - machineCPU) / elapsed)
                    nginxBusy = (FloorScenario.cpuSeconds(tree: parts.nginx.processIdentifier) - nginxCPU) / elapsed
                    ownBusy = (LoadStack.cpuSeconds(pid: getpid()) - ownCPU) / elapsed
                    primaryAfter = try await parts.primaryProbe.snapshot()
                    standbyAfter = try await parts.standbyProbe?.snapshot()
                    for server in servers { countersAfter.append(try await InstanceCounters.scrape(server.url, http: http)) }
                })
            let connections = await peaks.stop()
            let seconds = outcome.elapsed
            let window = zip(countersAfter, countersBefore).map { $0.minus($1) }
            let appended = window.reduce(0) { $0 + $1.eventsAppended }, commits = window.reduce(0) { $0 + $1.appendCommits }
            let notifications = window.reduce(0) { $0 + $1.notificationsHeard }
            let appendP99 = window.map { $0.appendBatch.bound(at: 0.99) }.max() ?? 0
            let instanceConnections = connections.filter { $0.key.hasPrefix("outline-instance-") }
            let primaryConnections = instanceConnections.values.reduce(0, +)
            let primaryCores = (primaryAfter.cpuSeconds - primaryBefore.cpuSeconds) / seconds
            let standbyCores = standbyAfter.flatMap { after in standbyBefore.map { (after.cpuSeconds - $0.cpuSeconds) / seconds } }
            let statements = primaryAfter.statements.flatMap { after in primaryBefore.statements.map { Double(after - $0) } }
            let transactions = Double(primaryAfter.transactions - primaryBefore.transactions)

            print("\n## \(step.instances) instance(s) behind nginx: \(step.clients) clients over \(step.sessions) sessions, provider pace \(paceMs) ms")
            print(String(format: "  delivered %d events through nginx in %.1f s: %.0f events/s; latency (runner received → client read) %@ over %d live deliveries",
                         outcome.delivered, seconds, Double(outcome.delivered) / seconds, outcome.latency.text, outcome.latencies.count))
            print("  reconnects \(outcome.reconnects), gaps \(outcome.gaps), duplicates \(outcome.duplicates), clients failed \(outcome.failures), clients whose ids differ from the log \(outcome.wrongClients)")
            print("  SSE events sent by instance: " + window.map { String(format: "%.0f", $0.sseEventsSent) }.joined(separator: " / ")
                  + "; backlog reads served by the standby " + String(format: "%.0f", window.reduce(0) { $0 + $1.standbyReads })
                  + ", by the primary " + String(format: "%.0f", window.reduce(0) { $0 + $1.primaryReads }))
            print(String(format: "  other instances' commits read: %.0f sessions/s in %.0f batched reads/s", window.reduce(0) { $0 + $1.feedFetches } / seconds,
                         window.reduce(0) { $0 + $1.batchedReads } / seconds))
            print(String(format: "  appends: %.0f events/s in %.0f commits/s (%.1f events per commit); append transaction p99 ≤ %.0f ms (the slowest instance)",
                         appended / seconds, commits / seconds, appended / max(commits, 1), appendP99 * 1000))
            print("  primary connections, peak by application_name: " + connections.sorted { $0.key < $1.key }.map { "\($0.key.isEmpty ? "(unnamed)" : $0.key) \($0.value)" }.joined(separator: ", "))
            print(String(format: "  primary: %.0f transactions/s, ", transactions / seconds)
                  + (statements.map { String(format: "%.0f statements/s (%.1f per append commit, %.2f per event appended)", $0 / seconds, $0 / max(commits, 1), $0 / max(appended, 1)) }
                     ?? "statements n/a (pg_stat_statements not loaded: Tools/dev/postgres.sh start loads it)")
                  + String(format: ", %.0f rows inserted/s", Double(primaryAfter.insertedRows - primaryBefore.insertedRows) / seconds))
            for (calls, text) in primaryAfter.busiest(since: primaryBefore, count: 8) {
                print(String(format: "    %7.0f/s  %5.2f per append commit  ", Double(calls) / seconds, Double(calls) / max(commits, 1)) + String(text.prefix(110)))
            }
            print(String(format: "  NOTIFY: %.0f/s sent, %.0f/s delivered to the %d listening instance(s)", notifications / Double(step.instances) / seconds, notifications / seconds, step.instances))
            if let standbyAfter, let standbyBefore {
                print(String(format: "  standby: %.0f transactions/s, ", Double(standbyAfter.transactions - standbyBefore.transactions) / seconds)
                      + (standbyAfter.statements.flatMap { after in standbyBefore.statements.map { String(format: "%.0f statements/s", Double(after - $0) / seconds) } } ?? "statements n/a"))
            }
            print(String(format: "  CPU cores: primary %.2f, standby %@, instances %.2f, nginx %.2f, this tool (clients + provider) %.2f; the machine %.2f of %d",
                         primaryCores, standbyCores.map { String(format: "%.2f", $0) } ?? "–", serverBusy, nginxBusy, ownBusy, machineBusy,
                         ProcessInfo.processInfo.activeProcessorCount))
            return Row(step: step, outcome: outcome, seconds: seconds, appended: appended, commits: commits, appendP99: appendP99,
                       primaryConnections: primaryConnections, perInstance: Double(primaryConnections) / Double(step.instances),
                       transactions: transactions, statements: statements, notifications: notifications,
                       primaryCores: primaryCores, standbyCores: standbyCores, serverCores: serverBusy, machineCores: machineBusy)
        }
    }
}
