import ArgumentParser
import Foundation
import OutlineAuth
import PostgresClient
#if canImport(Glibc)
import Glibc
#endif

/// The crash-proof promise (CONTRACT §8) tried on the real executables: two
/// `outline-server` instances on one database, the `simulated-provider` behind
/// a proxy that cuts and stalls it, PostgreSQL crashed for real, and SSE
/// clients that resume by Last-Event-ID against either instance, under a
/// seeded schedule of faults. Then, for every session: what its client got is
/// exactly the log, the outline is the provider's text byte for byte, the
/// provider was asked once, the chain verifies, and the session ended.
@main
struct OutlineTorture: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outline-torture",
        abstract: "Kill, crash, cut and stall the real service under live sessions, then prove nothing was lost, doubled or charged twice.",
        discussion: """
        Needs DATABASE_URL (a server where the role may create databases: Tools/dev/postgres.sh env) and the \
        executables beside it (swift build). The seed is printed first: `outline-torture --seed N` replays a run's schedule.
        """
    )

    @Option(help: "seed of the fault schedule and the clients (default: from the clock)") var seed: UInt64?
    @Option(help: "streaming sessions (one more answers clarification questions mid-run)") var sessions = 6
    @Option(help: "faults (at least the five targeted windows)") var faults = 24
    @Option(help: "outline length per session, in characters") var outputLength = 9000
    @Option(help: "milliseconds between provider events") var paceMs = 25
    @Option(help: "the cluster script whose `crash` restarts PostgreSQL immediately") var postgresScript = "Tools/dev/postgres.sh"
    @Option(help: "folder for the servers' logs (default: a new one under /tmp)") var folder: String?

    func run() async throws {
        let seed = seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        say("outline-torture --seed \(seed) --sessions \(sessions) --faults \(faults)")
        let run = try await TortureRun.prepare(seed: seed, sessions: sessions, outputLength: outputLength, paceMs: paceMs,
                                               postgresScript: postgresScript, folder: folder)
        let verdict: TortureVerdict
        do {
            verdict = try await run.execute(faults: faults)
        } catch {
            await run.tearDown(keepDatabase: true)
            throw error
        }
        say(verdict.report)
        await run.tearDown(keepDatabase: !verdict.passed)
        if !verdict.passed {
            say("FAILED: replay with outline-torture --seed \(seed); logs in \(run.folder)")
            throw ExitCode(1)
        }
        say("passed")
    }
}

/// Writes a line at once (stdout to a pipe is block-buffered: a stuck run must show where it is).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
