import EventLog
import Foundation
import Logging
import ServiceLifecycle
import SessionRunner

/// Runs the slow part of each session in the background, after its HTTP
/// request has answered: the clarification questions, the research
/// instructions, then the research under a lease (`SessionSupervisor`). It also
/// adopts the sessions of runners that died, at start-up and periodically.
///
/// On graceful shutdown it stops its runs as a crash would and releases their
/// leases, so another instance adopts them at its next pass instead of waiting
/// for the leases to expire.
public final class SessionLauncher: Service, Sendable {
    enum Job: Sendable {
        /// A new session: ask the clarification questions, or (skipped) write the instructions and research.
        case prepare(session: UUID, prompt: String, skipClarification: Bool, mode: SessionMode)
        /// The writer answered: write the instructions from the questions and answers, then research.
        case answered(session: UUID, prompt: String, questions: [String], answers: [String], mode: SessionMode)
    }

    let supervisor: SessionSupervisor
    let adoptionInterval: Duration
    let logger: Logger
    private let jobs: AsyncStream<Job>
    private let submitter: AsyncStream<Job>.Continuation

    public init(supervisor: SessionSupervisor, adoptionInterval: Duration = .seconds(10), logger: Logger) {
        self.supervisor = supervisor
        self.adoptionInterval = adoptionInterval
        self.logger = logger
        (jobs, submitter) = AsyncStream<Job>.makeStream()
    }

    var runner: SessionRunner { supervisor.runner }

    func submit(_ job: Job) { submitter.yield(job) }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.supervisor.runAdoption(every: self.adoptionInterval) }
            for await job in jobs.cancelOnGracefulShutdown() {
                group.addTask { await self.perform(job) }
            }
            group.cancelAll()
        }
        do {
            try await supervisor.leases.releaseAll()
        } catch {
            logger.warning("could not release this instance's leases; they expire on their own", metadata: ["error": "\(error)"])
        }
    }

    private func perform(_ job: Job) async {
        do {
            switch job {
            case .prepare(let id, let prompt, let skip, let mode):
                if skip {
                    let instructions = try await runner.writeInstructions(session: id, prompt: prompt)
                    _ = try await supervisor.run(session: id, instructions: instructions, mode: mode)
                } else {
                    try await runner.requestClarification(session: id, prompt: prompt)
                }
            case .answered(let id, let prompt, let questions, let answers, let mode):
                let instructions = try await runner.writeInstructions(session: id, prompt: prompt, questions: questions, answers: answers)
                _ = try await supervisor.run(session: id, instructions: instructions, mode: mode)
            }
        } catch is CancellationError {
            return
        } catch {
            let id: UUID = switch job {
            case .prepare(let id, _, _, _), .answered(let id, _, _, _, _): id
            }
            logger.error("a session failed before or during research", metadata: ["session": "\(id)", "error": "\(error)"])
            // The workflow must not stay blocked by a session nobody drives.
            _ = try? await runner.store.appendAtHeadUnlessEnded(session: id, events: [
                NewEvent(.failed(SessionFailed(code: "preparation_failed", message: "The session could not continue: \(error). Start it again.", retryable: true))),
            ])
        }
    }
}
