import EventLog
import Foundation

extension SampleEvents {
    /// Sessions whose events interleave in the log (so segments span each other's
    /// positions): three finished, one still running.
    public static func appendInterleaved(_ store: EventStore, count: Int = 4) async throws -> [UUID] {
        let ids = (0..<count).map { _ in UUID() }
        var scripts = ids.indices.map { index in
            session(workflowId: index < 2 ? "wf-compact" : "wf-other-\(index)", deltas: 60 + 13 * index, seed: index == count - 1 ? 3 : index)
                .map { NewEvent($0) }
        }
        var heads = [Int32](repeating: 0, count: count)
        var round = 0
        while scripts.contains(where: { !$0.isEmpty }) {
            for index in ids.indices where !scripts[index].isEmpty {
                let take = min(scripts[index].count, 1 + (round + index) % 5)
                let batch = Array(scripts[index].prefix(take))
                scripts[index].removeFirst(take)
                try await store.append(StreamAppend(sessionID: ids[index], expectedSequence: heads[index], events: batch))
                heads[index] += Int32(take)
            }
            round += 1
        }
        return ids
    }

}
