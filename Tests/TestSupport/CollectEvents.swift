import OpenAIResponses

/// Reads a provider event stream to its end: the events delivered, and the error
/// it ended with, if any (tests check both).
public func collectEvents(_ stream: AsyncThrowingStream<ResponseStreamEvent, any Error>) async -> (events: [ResponseStreamEvent], error: (any Error)?) {
    var events: [ResponseStreamEvent] = []
    do {
        for try await event in stream { events.append(event) }
        return (events, nil)
    } catch {
        return (events, error)
    }
}
