import ArgumentParser
import EventLog
import Foundation
import OutlineProjections

/// `outline-admin retention`: how long finished sessions are kept, and removing
/// the ones past it (every instance also does that on its background pass).
struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Set how long finished sessions are kept (globally or per workflow) and remove the expired ones.",
        subcommands: [List.self, Set.self, Clear.self, Apply.self]
    )

    struct WorkflowOptions: ParsableArguments {
        @Option(help: "the workflow's id (with --owner); without both, the global policy") var workflow: String?
        @Option(help: "the workflow's owner (its namespace)") var owner: String?

        func validate() throws {
            guard (workflow == nil) == (owner == nil) else { throw ValidationError("--workflow and --owner go together") }
        }

        var scope: (owner: String, id: String)? { workflow.flatMap { id in owner.map { ($0, id) } } }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The policies, and the sessions removed so far.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (policies, removed) = try await database.withPool { pool in
                (try await SessionRetention(pool: pool, logger: AdminLogging.logger).policies(),
                 try await pool.query("SELECT count(*), max(removed_at) FROM outline_removed_sessions")[0])
            }
            if policies.isEmpty { print("no retention policy: sessions are kept forever") }
            for policy in policies {
                let scope = policy.workflow.map { "workflow \($0.owner)/\($0.id)" } ?? "global"
                print("\(scope): keep finished sessions \(policy.keepDays) day(s) (set by \(policy.setBy), \(TimestampText.format(policy.setAt)))")
            }
            let count = try removed.decode(Int64.self, at: 0)
            if count > 0 { print("\(count) session(s) removed so far, the last at \(TimestampText.format(try removed.decode(Date.self, at: 1))) (outline-admin partitions audit lists them)") }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Keep finished sessions this many days (a workflow's policy wins over the global one).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var scope: WorkflowOptions
        @Option(help: "days to keep a finished session after its last event (1…36500)") var days: Int
        @Option(help: "who (recorded; default $USER)") var by: String?

        func validate() throws {
            guard (1...36_500).contains(days) else { throw ValidationError("--days must be between 1 and 36500") }
        }

        func run() async throws {
            let actor = by ?? ProcessInfo.processInfo.environment["USER"] ?? "operator"
            try await database.withPool { pool in try await SessionRetention(pool: pool, logger: AdminLogging.logger).setPolicy(keepDays: days, workflow: scope.scope, by: actor) }
            print("\(scope.scope.map { "workflow \($0.owner)/\($0.id)" } ?? "global"): finished sessions are kept \(days) day(s)")
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a policy (the global one, or a workflow's).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var scope: WorkflowOptions

        func run() async throws {
            let cleared = try await database.withPool { pool in try await SessionRetention(pool: pool, logger: AdminLogging.logger).clearPolicy(workflow: scope.scope) }
            print(cleared ? "policy removed" : "there was no such policy")
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove every expired session now, by the audited path.",
            discussion: """
                Each expired session is compacted if it is not yet, then in one transaction: its audit record
                (events, segments and their digests, the policy), its segments deleted, its entry in
                outline_removed_sessions, its read-model rows removed. Its owner then gets 410 session_removed.
                """
        )
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "only list what would be removed") var dryRun = false
        @Option(help: "who (recorded; default $USER)") var by: String?

        func run() async throws {
            let actor = by ?? ProcessInfo.processInfo.environment["USER"] ?? "operator"
            let kept = try await database.withPool { pool -> Int in
                let retention = SessionRetention(pool: pool, logger: AdminLogging.logger)
                if dryRun {
                    let expired = try await retention.expired()
                    for session in expired {
                        print("would remove \(session.session.uuidString.lowercased()) (\(session.workflowOwner)/\(session.workflowID), last event \(TimestampText.format(session.lastEventAt)), kept \(session.keepDays) day(s))")
                    }
                    print("\(expired.count) session(s) expired")
                    return 0
                }
                var kept = 0, removed = 0
                for (session, outcome) in try await retention.apply(actor: actor) {
                    switch outcome {
                    case .removed(let audit): removed += 1; print("removed \(session.session.uuidString.lowercased()) (audit record \(audit))")
                    case .alreadyRemoved, .notFinished: break
                    case .keptUnverified(let why): kept += 1; print("KEPT \(session.session.uuidString.lowercased()): its chain does not verify (\(why))")
                    }
                }
                print("\(removed) session(s) removed")
                return kept
            }
            if kept > 0 { throw ExitCode(1) }
        }
    }
}
