import Foundation

/// What the torture run proved, session by session, and the durability figures.
struct TortureVerdict: Sendable {
    var problems: [String] = []
    var sessions = 0
    var completed = 0
    var failedChargeUnknown = 0
    var events = 0
    var lost = 0
    var duplicates = 0
    var doubleCharges = 0
    var connections = 0
    var faults = 0
    var figures = TortureRun.Figures()

    var passed: Bool { problems.isEmpty }

    func with(figures: TortureRun.Figures) -> TortureVerdict {
        var copy = self
        copy.figures = figures
        return copy
    }

    static func check(run: TortureRun, results: [(TortureRun.Session, [ResumingReader.Received], Int)], faults: Int) async -> TortureVerdict {
        var verdict = TortureVerdict()
        verdict.faults = faults
        verdict.sessions = results.count
        let stats = (try? await HTTP.get(run.providerURL + "/v1/simulator/stats").json) ?? [:]
        // Deep-research creates only: the fast-model calls (questions, instructions) cost next to nothing.
        let creates = stats["research_creates_by_session"] as? [String: Int] ?? [:]
        let base = run.instances[0].url
        for (session, received, connections) in results {
            let name = "\(session.workflow) (\(session.id.prefix(8)))"
            verdict.connections += connections
            // The reference: the whole stream read once, in one connection, after the run.
            let reference = await ResumingReader(session: session.id, workflow: session.workflow, streamToken: session.streamToken,
                                                 instances: [base], seed: 0).run(until: .now + .seconds(120))
            let head = await run.head(session.id)
            verdict.events += Int(head)
            if reference.events.map(\.id) != Array(1...max(1, head)).map({ $0 }) || head == 0 {
                verdict.problems.append("\(name): a single read of the stream is not the log 1...\(head)")
            }
            let ids = received.map(\.id)
            verdict.duplicates += ids.count - Set(ids).count
            verdict.lost += Set(reference.events.map(\.id)).subtracting(ids).count
            if received != reference.events {
                verdict.problems.append("\(name): what the client received across \(connections) connections is not exactly the log (\(received.count) events, log \(head))")
            }
            guard let row = try? await HTTP.get(base + "/api/workflows/\(session.workflow)/outline-generation/status?sessionId=\(session.id)", token: run.userToken).json else {
                verdict.problems.append("\(name): no status")
                continue
            }
            let status = row["status"] as? String ?? "?"
            let count = creates[session.id] ?? 0
            if count > 1 { verdict.doubleCharges += 1; verdict.problems.append("\(name): the provider was asked \(count) times") }
            switch status {
            case "completed":
                verdict.completed += 1
                if count != 1 { verdict.problems.append("\(name): completed with \(count) research creates") }
                if let response = row["backgroundResponseId"] as? String,
                   let object = try? await HTTP.get(run.providerURL + "/v1/responses/\(response)").json {
                    let text = (object["output"] as? [[String: Any]] ?? []).flatMap { $0["content"] as? [[String: Any]] ?? [] }
                        .filter { $0["type"] as? String == "output_text" }.compactMap { $0["text"] as? String }.joined()
                    if row["finalOutline"] as? String != text {
                        verdict.problems.append("\(name): the final outline differs from the provider's response text")
                    }
                } else {
                    verdict.problems.append("\(name): completed without a provider response to compare")
                }
            case "failed" where (row["errorMessage"] as? String ?? "").contains("outcome is unknown"):
                // A kill between request and acceptance: failed rather than paying twice. The
                // one create may or may not have reached the provider (its id was never learnt).
                verdict.failedChargeUnknown += 1
            default:
                verdict.problems.append("\(name): ended \(status) (\(row["errorMessage"] as? String ?? ""))")
            }
            let chain = try? await HTTP.get(base + "/api/sessions/\(session.id)/verify", token: run.adminToken).json
            if chain?["intact"] as? Bool != true { verdict.problems.append("\(name): the hash chain does not verify") }
        }
        return verdict
    }

    static func stats(_ values: [Duration]) -> String {
        guard !values.isEmpty else { return "none measured" }
        let sorted = values.sorted()
        return String(format: "p50 %.2f s, max %.2f s over %d", sorted[sorted.count / 2].seconds, sorted.last!.seconds, sorted.count)
    }

    var report: String {
        """
        sessions \(sessions): \(completed) completed, \(failedChargeUnknown) failed charge_unknown (killed between request and acceptance: never a second create)
        events \(events) in the log; clients reconnected \(connections) times in all
        lost \(lost), duplicates \(duplicates), double charges \(doubleCharges), faults \(faults)
        failover (kill -> the adopter's next event): \(Self.stats(figures.failovers))
        PostgreSQL crash -> appends resume: \(Self.stats(figures.databaseStalls))
        \(problems.isEmpty ? "no problems" : "PROBLEMS:\n  " + problems.joined(separator: "\n  "))
        """
    }
}
