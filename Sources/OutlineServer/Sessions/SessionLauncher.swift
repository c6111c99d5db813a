import EventLog
import Foundation
import Logging
import ServiceLifecycle
import SessionRunner
import Synchronization
import Tracing

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
        /// The instructions are written: run the research.
        case research(session: UUID, instructions: String, mode: SessionMode)
        /// A stalled session: its next step is read from the log once the job holds it.
        case continueFromLog(session: UUID)

        var session: UUID {
            switch self {
            case .prepare(let id, _, _, _), .answered(let id, _, _, _, _), .research(let id, _, _), .continueFromLog(let id): id
            }
        }
    }

    let supervisor: SessionSupervisor
    let adoptionInterval: Duration
    let logger: Logger
    /// A job and the trace context of the request that made it (its steps' traces link to it).
    struct Submitted: Sendable {
        var job: Job
        var origin: ServiceContext?
    }
    private let jobs: AsyncStream<Submitted>
    private let submitter: AsyncStream<Submitted>.Continuation
    /// Sessions this instance is preparing or running now: never two jobs for one.
    private let inFlight = Mutex(Set<UUID>())

    public init(supervisor: SessionSupervisor, adoptionInterval: Duration = .seconds(10), logger: Logger) {
        self.supervisor = supervisor
        self.adoptionInterval = adoptionInterval
        self.logger = logger
        (jobs, submitter) = AsyncStream<Submitted>.makeStream()
    }

    var runner: SessionRunner { supervisor.runner }

    func submit(_ job: Job) { submitter.yield(Submitted(job: job, origin: ServiceContext.current)) }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.supervisor.runAdoption(every: self.adoptionInterval) }
            group.addTask { await self.resumePreparations() }
            for await submitted in jobs.cancelOnGracefulShutdown() {
                group.addTask { await self.perform(submitted.job, origin: submitted.origin) }
            }
            group.cancelAll()
        }
        do {
            try await supervisor.leases.releaseAll()
        } catch {
            logger.warning("could not release this instance's leases; they expire on their own", metadata: ["error": "\(error)"])
        }
    }

    /// Finds sessions whose preparation (questions, instructions) died with its
    /// instance and runs it again, so their workflow is not blocked forever.
    private func resumePreparations() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: adoptionInterval)
            do {
                for session in try await supervisor.leases.stalledPreparations(quietFor: supervisor.leases.timeToLive)
                where !inFlight.withLock({ $0.contains(session) }) {
                    logger.info("resuming a session's preparation after its instance stopped", metadata: ["session": "\(session)"])
                    submit(.continueFromLog(session: session))
                }
            } catch {
                logger.warning("looking for stalled preparations failed; will retry", metadata: ["error": "\(error)"])
            }
        }
    }

    /// What a stalled session needs next, from its log.
    func job(continuing session: UUID) async throws -> Job? {
        var started: SessionStarted?
        var questions: [String]?
        var answers: [String]?
        var instructions: String?
        for recorded in try await runner.store.read(session: session, limit: 100) {
            switch recorded.event {
            case .sessionStarted(let event): started = event
            case .clarificationRequested(let event): questions = event.questions
            case .clarificationAnswered(let event): answers = event.answers
            case .researchInstructionsWritten(let event): instructions = event.instructions
            // From here on the runner owns the session (its own adoption continues it).
            case .providerRequestStarted: return nil
            default: if recorded.event.isTerminal { return nil }
            }
        }
        guard let started else { return nil }
        // Died between writing the instructions and calling the provider: research now.
        if let instructions { return .research(session: session, instructions: instructions, mode: started.mode) }
        if let questions, let answers {
            return .answered(session: session, prompt: started.prompt, questions: questions, answers: answers, mode: started.mode)
        }
        if questions != nil { return nil } // waiting for the writer: nothing to resume
        return .prepare(session: session, prompt: started.prompt, skipClarification: started.skipClarification, mode: started.mode)
    }

    /// Runs one preparation step (fast-model calls, which retry) while renewing the
    /// session's lease, so a slow step is not mistaken for a dead instance and
    /// prepared twice. Losing the lease stops the step: the new holder continues.
    private func preparing<T: Sendable>(_ session: UUID, _ step: @escaping @Sendable () async throws -> T) async throws -> T {
        let leases = supervisor.leases, heartbeat = supervisor.heartbeat
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await step() }
            group.addTask {
                while true {
                    try await Task.sleep(for: heartbeat)
                    if try await !leases.renew(session) { throw CancellationError() }
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    /// The research run as a step of its own (its resumes are further steps, `SessionRunner`).
    private func research(_ id: UUID, instructions: String, mode: SessionMode, origin: ServiceContext?) async throws {
        _ = try await SessionStep.run("session.research", session: id, linkedTo: ServiceContext.current ?? origin) {
            try await supervisor.run(session: id, instructions: instructions, mode: mode)
        }
    }

    private func perform(_ job: Job, origin: ServiceContext? = nil) async {
        let id = job.session
        guard inFlight.withLock({ $0.insert(id).inserted }) else { return }
        defer { inFlight.withLock { _ = $0.remove(id) } }
        // The lease marks the preparation as taken, so no other instance repeats it.
        guard (try? await supervisor.leases.acquire(id)) == true else { return }
        var job = job
        if case .continueFromLog = job {
            // Read now, while holding the session: what was stalled may have moved on.
            guard let next = try? await self.job(continuing: id) else {
                try? await supervisor.leases.release(id)
                return
            }
            job = next
        }
        let runner = self.runner
        do {
            switch job {
            case .prepare(let id, let prompt, let skip, let mode):
                if skip {
                    let instructions = try await SessionStep.run("session.prepare", session: id, linkedTo: origin) {
                        try await preparing(id) { try await runner.writeInstructions(session: id, prompt: prompt) }
                    }
                    try await research(id, instructions: instructions, mode: mode, origin: origin)
                } else {
                    _ = try await SessionStep.run("session.clarify", session: id, linkedTo: origin) {
                        try await preparing(id) { try await runner.requestClarification(session: id, prompt: prompt) }
                    }
                }
            case .answered(let id, let prompt, let questions, let answers, let mode):
                let instructions = try await SessionStep.run("session.prepare", session: id, linkedTo: origin) {
                    try await preparing(id) {
                        try await runner.writeInstructions(session: id, prompt: prompt, questions: questions, answers: answers)
                    }
                }
                try await research(id, instructions: instructions, mode: mode, origin: origin)
            case .research(let id, let instructions, let mode):
                try await research(id, instructions: instructions, mode: mode, origin: origin)
            case .continueFromLog:
                break
            }
        } catch is CancellationError {
            return
        } catch where Task.isCancelled {
            return   // shutting down: the lease is released and another instance continues
        } catch EventLogError.sequenceConflict {
            // Another runner moved the session on meanwhile: it is in hands, not stuck.
            logger.info("a session moved on elsewhere; leaving it", metadata: ["session": "\(id)"])
        } catch {
            // The workflow must not stay blocked by a session nobody drives, and a
            // provider response must not keep billing: end the session after
            // cancelling its response, or, when that cannot be done now, keep the
            // lease so it expires and an adopter continues from the log.
            let ended = (try? await runner.endAfterFailure(session: id, code: "preparation_failed", error: error)) ?? false
            if !ended {
                logger.warning("a failed session is left to an adopter", metadata: ["session": "\(id)", "error": "\(error)"])
                return
            }
        }
        // Waiting for the writer's answers, or finished: nobody needs to hold it now.
        try? await supervisor.leases.release(id)
    }
}
