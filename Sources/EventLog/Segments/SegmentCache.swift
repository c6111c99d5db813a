import Foundation
import Synchronization

/// Recently decoded segments, so that a replay reading a compacted session
/// page by page decodes each segment once, not once per page. Keyed by the
/// segment's digest as well, so a segment rewritten since (a redaction) is
/// never served from here. Bounded by events held, oldest use out first.
final class SegmentCache: Sendable {
    struct Key: Hashable, Sendable {
        var session: UUID
        var firstSequence: Int32
    }

    private struct Entry {
        var digest: [UInt8]
        var segment: EventSegment
        var used: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var events = 0
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacityInEvents: Int = 200_000) { self.capacity = capacityInEvents }

    /// The digests of `session`'s cached segments (to ask PostgreSQL for the other bodies only).
    func digests(of session: UUID) -> [Int32: [UInt8]] {
        state.withLock { state in
            var found: [Int32: [UInt8]] = [:]
            for (key, entry) in state.entries where key.session == session { found[key.firstSequence] = entry.digest }
            return found
        }
    }

    func segment(_ key: Key, digest: [UInt8]) -> EventSegment? {
        state.withLock { state in
            guard var entry = state.entries[key], entry.digest == digest else { return nil }
            state.clock += 1
            entry.used = state.clock
            state.entries[key] = entry
            return entry.segment
        }
    }

    func insert(_ segment: EventSegment, key: Key, digest: [UInt8]) {
        guard segment.events.count <= capacity else { return }
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: key) { state.events -= old.segment.events.count }
            while state.events + segment.events.count > capacity, let oldest = state.entries.min(by: { $0.value.used < $1.value.used }) {
                state.entries.removeValue(forKey: oldest.key)
                state.events -= oldest.value.segment.events.count
            }
            state.clock += 1
            state.entries[key] = Entry(digest: digest, segment: segment, used: state.clock)
            state.events += segment.events.count
        }
    }
}
