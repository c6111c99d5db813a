import EventLog
import Foundation
import OpenAIResponses

extension SessionRunner {
    /// Step 1 of a session: a fast model writes 3–6 questions for the writer.
    /// Appends `clarification.requested` and returns the questions.
    @discardableResult
    public func requestClarification(session: UUID, prompt: String) async throws -> [String] {
        let head = try await store.head(of: session).sequence
        let response = try await client.create(CreateResponseRequest(
            model: settings.fastModel, input: prompt,
            instructions: "Ask the writer 3 to 6 short questions, one per line, whose answers would most improve a researched content outline for this request.",
            background: false, stream: false, metadata: ["outline_session": session.uuidString.lowercased(), "purpose": "clarification_questions"]),
            retryingAfterSend: true)
        let questions = Self.questions(from: response.outputText)
        guard !questions.isEmpty else {
            throw ResponsesError.malformedEvent("the clarification model wrote no questions")
        }
        try await writer.append(StreamAppend(sessionID: session, expectedSequence: head, events: [
            NewEvent(.clarificationRequested(ClarificationRequested(questions: questions, cost: settings.prices.cost(of: response, model: settings.fastModel)))),
        ]))
        return questions
    }

    /// Step 2: the writer's answers, then the fast model rewrites prompt and
    /// answers into the research instructions. Appends both events; returns the instructions.
    @discardableResult
    public func answerClarification(session: UUID, prompt: String, questions: [String], answers: [String]) async throws -> String {
        var head = try await store.head(of: session).sequence
        head = try await writer.append(StreamAppend(sessionID: session, expectedSequence: head, events: [
            NewEvent(.clarificationAnswered(ClarificationAnswered(answers: answers))),
        ])).lastSequence
        return try await writeInstructions(session: session, prompt: prompt, questions: questions, answers: answers, expectedSequence: head)
    }

    /// Research instructions without clarification (the caller skipped it).
    @discardableResult
    public func writeInstructions(session: UUID, prompt: String) async throws -> String {
        try await writeInstructions(session: session, prompt: prompt, questions: [], answers: [], expectedSequence: try await store.head(of: session).sequence)
    }

    /// Research instructions from the prompt and the writer's answers, which the
    /// caller has already appended.
    @discardableResult
    public func writeInstructions(session: UUID, prompt: String, questions: [String], answers: [String]) async throws -> String {
        try await writeInstructions(session: session, prompt: prompt, questions: questions, answers: answers, expectedSequence: try await store.head(of: session).sequence)
    }

    private func writeInstructions(session: UUID, prompt: String, questions: [String], answers: [String], expectedSequence: Int32) async throws -> String {
        var input = "Request: \(prompt)"
        for (question, answer) in zip(questions, answers) { input += "\nQ: \(question)\nA: \(answer)" }
        let response = try await client.create(CreateResponseRequest(
            model: settings.fastModel, input: input,
            instructions: "Rewrite this request and the writer's answers into clear instructions for a deep research model that will produce a content outline with citations.",
            background: false, stream: false, metadata: ["outline_session": session.uuidString.lowercased(), "purpose": "research_instructions"]),
            retryingAfterSend: true)
        let instructions = response.outputText.trimmingCharacters(in: .whitespacesAndNewlines)
        try await writer.append(StreamAppend(sessionID: session, expectedSequence: expectedSequence, events: [
            NewEvent(.researchInstructionsWritten(ResearchInstructionsWritten(instructions: instructions.isEmpty ? input : instructions,
                                                                              cost: settings.prices.cost(of: response, model: settings.fastModel)))),
        ]))
        return instructions.isEmpty ? input : instructions
    }

    /// The questions in a model's answer: one per line, list markers removed, 6 at most.
    static func questions(from text: String) -> [String] {
        text.split(whereSeparator: \.isNewline)
            .map { line in
                var line = line.trimmingCharacters(in: .whitespaces)
                while let first = line.first, first.isNumber || "-*•.)".contains(first) { line.removeFirst() }
                return line.trimmingCharacters(in: .whitespaces)
            }
            .filter { !$0.isEmpty }
            .prefix(6)
            .map { $0 }
    }

    /// Cancels a session: records who cancelled (the session ends here, so its
    /// running stream stops at its next append, which finds the head moved) and
    /// cancels the provider's response, which is safe to repeat. Cancelling an
    /// ended session changes nothing.
    /// The cancelled event carries what the run had cost, estimated from the log
    /// (the provider reports no usage for a response cut short).
    public func cancel(session: UUID, by user: String, reason: String? = nil) async throws {
        let progress = try await progress(of: session)
        let appended = try await store.appendAtHeadUnlessEnded(session: session, events: [
            NewEvent(.cancelled(SessionCancelled(cancelledBy: user, reason: reason, cost: estimatedCost(progress)))),
        ])
        guard appended != nil else { return }
        var responseID = progress.responseID
        if responseID == nil { responseID = try await self.progress(of: session).responseID }   // accepted meanwhile
        if let responseID {
            _ = try await client.cancel(responseID: responseID)
        }
    }
}

