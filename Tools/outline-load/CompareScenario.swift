import Foundation
import PostgresClient

/// Issue 12's side-by-side run: the same loads against the service, the bare
/// Hummingbird broadcaster (`outline-floor`) and nginx + nchan, one after the
/// other in one invocation, every figure printed beside its anchors: fan-out at
/// 100 clients / 100 sessions, at 1,000 / 100 for offered rates from 10,000/s up
/// (each target's sweep stops at its first p99 over the bound once 40,000/s is
/// measured), then memory per idle connection.
struct CompareScenario {
    let base: ConnectionSettings
    let serverBinary: String
    let floorBinary: String
    let nchanModule: String
    /// Seconds each fan-out streams (the transcript and frame counts follow from the pace).
    var seconds = 10
    var rates = [10_000, 20_000, 30_000, 40_000, 50_000]
    var p99Bound = 50.0
    var idleConnections = 10_000
    /// The service's idle figure is taken this long after the streams opened, once
    /// it has handed free heap back (`OUTLINE_HEAP_TRIM_SECONDS`, 30 s by default).
    var idleSettleSeconds = 35
    var reader = ReaderKind.epoll

    enum Target: String, CaseIterable {
        case service = "outline-server"
        case floor = "floor (bare Hummingbird)"
        case nchan = "nginx + nchan"
    }

    struct Load: Hashable {
        let clients: Int
        let sessions: Int
        let paceMs: Int
        var offered: Int { clients * 1000 / paceMs }
        var label: String { "\(clients) clients / \(sessions) sessions, \(offered.formatted())/s offered (\(paceMs) ms pace)" }
    }

    func run() async throws {
        var cells: [Load: [Target: FanOutFigures]] = [:]
        var failures: [Load: [Target: String]] = [:]
        var idle: [Target: String] = [:]
        let small = Load(clients: 100, sessions: 100, paceMs: 25)
        var loads = [small]
        for target in Target.allCases {
            print("\n## \(target.rawValue)")
            // A run that fails is a cell that says so; the table still prints.
            do { cells[small, default: [:]][target] = try await fanOut(target, small) } catch { failures[small, default: [:]][target] = "failed: \(error)" }
            for rate in rates {
                let load = Load(clients: 1000, sessions: 100, paceMs: max(1, 1000 * 1000 / rate))
                if !loads.contains(load) { loads.append(load) }
                do {
                    let figures = try await fanOut(target, load)
                    cells[load, default: [:]][target] = figures
                    if rate >= 40_000, figures.latency.percentile(0.99) > p99Bound { break }
                } catch {
                    failures[load, default: [:]][target] = "failed: \(error)"
                    break
                }
            }
            if idleConnections > 0 {
                do { idle[target] = String(format: "%.1f", try await idleKB(target)) } catch { idle[target] = "failed: \(error)" }
            }
        }

        print("\n# side by side (fan-out cells: delivered/s · latency · server CPU per delivery)")
        print("| load | " + Target.allCases.map(\.rawValue).joined(separator: " | ") + " |")
        print("|---|" + String(repeating: "---|", count: Target.allCases.count))
        for load in loads {
            print("| \(load.label) | " + Target.allCases.map { cells[load]?[$0]?.cell ?? failures[load]?[$0] ?? "not run (sweep stopped)" }.joined(separator: " | ") + " |")
        }
        let highest = Target.allCases.map { target -> String in
            let met = loads.filter { $0.clients == 1000 }.compactMap { load in cells[load]?[target].map { (load, $0) } }
                .filter { $0.1.latency.percentile(0.99) <= p99Bound && $0.1.wrongClients == 0 }.max { $0.1.rate < $1.1.rate }
            return met.map { "\(Int($0.1.rate).formatted())/s (\($0.0.offered.formatted()) offered)" } ?? "none measured"
        }
        print("| 1,000 / 100: highest rate with p99 ≤ \(Int(p99Bound)) ms | " + highest.joined(separator: " | ") + " |")
        if idleConnections > 0 {
            print("| \(idleConnections.formatted()) idle streams: KB each | " + Target.allCases.map { idle[$0] ?? "–" }.joined(separator: " | ") + " |")
        }
    }

    private func fanOut(_ target: Target, _ load: Load) async throws -> FanOutFigures {
        print("\n### \(load.label)")
        let frames = max(20, seconds * 1000 / load.paceMs)
        switch target {
        case .service:
            // A transcript of about `frames` events: 12-character deltas and ~45 others.
            let run = ServiceRun(base: base, serverBinary: serverBinary, paceMs: load.paceMs, outputLength: max(600, 12 * (frames - 45)), holdRuns: true)
            return try await run { parts in
                try await FanOutScenario(clients: load.clients, sessions: load.sessions, disconnectProbability: 0, reader: reader, release: parts.release)
                    .run(stack: parts.stack, pool: parts.pool, signer: parts.signer)
            }
        case .floor, .nchan:
            let scenario = FloorScenario(clients: load.clients, sessions: load.sessions, events: frames, paceMs: load.paceMs, idleConnections: 0, reader: reader)
            return try await scenario.run(target == .floor ? .floor(binary: floorBinary) : .nchan(module: nchanModule)).fanOut
        }
    }

    private func idleKB(_ target: Target) async throws -> Double {
        print("\n### \(idleConnections.formatted()) idle streams")
        switch target {
        case .service:
            return try await ServiceRun(base: base, serverBinary: serverBinary) { parts in
                try await IdleScenario(connections: idleConnections, sessions: 100, settle: idleSettleSeconds).run(stack: parts.stack, signer: parts.signer)
            }
        case .floor, .nchan:
            // Two frames per session (the floor's least) and no clients: only the idle measurement counts.
            let scenario = FloorScenario(clients: 0, sessions: 100, events: 2, paceMs: 25, idleConnections: idleConnections, reader: reader)
            return try await scenario.run(target == .floor ? .floor(binary: floorBinary) : .nchan(module: nchanModule)).idleKB ?? 0
        }
    }
}
