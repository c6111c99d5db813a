import ArgumentParser
import EventLog
import Foundation
import OutlineProjections

/// `outline-admin redact`: remove a payload's content, keep the proof.
struct RedactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact",
        abstract: "Remove the content of a finished session's events (a deletion request, a leaked secret); the chain still verifies.",
        discussion: """
            The event's payload becomes a tombstone: the same fields with their content emptied and a `redacted`
            object naming the audit record, when, by whom and why, and the SHA-256 of what was appended (which the
            chain link covers). Done in the session's segments (it is compacted first if needed) and in its hot rows,
            then VACUUM; the read model is folded again. `verify` reports the session intact with its redactions;
            replay and export show the tombstone; export-check re-hashes it. Redactions are records in the log audit
            stream (outline-admin partitions audit). WAL archives and backups keep old content until rotated.
            """
    )
    @OptionGroup var database: DatabaseOptions
    @Option(help: "the session (a UUID)") var session: String
    @Option(help: "the event's sequence number") var event: Int32?
    @Option(help: "every event of this type (for example output_text.delta)") var type: String?
    @Option(help: "why (recorded with the redaction)") var reason: String
    @Option(help: "who (recorded; default $USER)") var by: String?

    func validate() throws {
        guard UUID(uuidString: session) != nil else { throw ValidationError("\(session) is not a session id (a UUID)") }
        guard (event == nil) != (type == nil) else { throw ValidationError("pass either --event N or --type T") }
        if let event, event < 1 { throw ValidationError("--event must be at least 1") }
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
    }

    func run() async throws {
        let actor = by ?? ProcessInfo.processInfo.environment["USER"] ?? "operator"
        let selector: Redactor.Selector = event.map { .sequence($0) } ?? .type(type!)
        let result = try await database.withPool { pool in
            do {
                return try await SessionRedaction(store: EventStore(pool: pool), logger: AdminLogging.logger)
                    .redact(session: UUID(uuidString: session)!, selector, actor: actor, reason: reason)
            } catch let error as RedactionError {
                throw AdminFailure("not redacted: \(error)")
            }
        }
        if !result.sequences.isEmpty {
            print("redacted \(result.sequences.count) event(s) of session \(session.lowercased()) (\(result.sequences.map(String.init).joined(separator: ", "))): audit record \(result.auditSequence)")
        }
        if !result.alreadyRedacted.isEmpty { print("already redacted: \(result.alreadyRedacted.map(String.init).joined(separator: ", "))") }
    }
}
