import Foundation
import Synchronization

/// The rows this process last wrote, so an append to a live session need not
/// read its row back (its output text grows to tens of kilobytes).
///
/// A cached row is used only when its `lastEventSequence` is exactly the sequence
/// before the events being folded. Every change to a session's row comes from an
/// append to that session, and appends to one session are serialized by its
/// stream head, so such a row is the row in the database: another instance's
/// appends, or a rebuild in between, make the sequences disagree and the row is
/// read again.
final class OutlineSessionRowCache: Sendable {
    private let rows = Mutex<[UUID: OutlineSessionRow]>([:])
    let capacity: Int

    init(capacity: Int = 20_000) { self.capacity = capacity }

    /// Takes the cached row out, if it is current for an append that starts at
    /// `nextSequence`. Taken, not copied: the caller then owns the only reference
    /// to its text and can append to it in place. `store` puts it back after commit.
    func take(_ id: UUID, before nextSequence: Int32) -> OutlineSessionRow? {
        rows.withLock { rows in
            guard let row = rows.removeValue(forKey: id) else { return nil }
            return row.lastEventSequence == nextSequence - 1 ? row : nil
        }
    }

    /// Remembers committed rows; finished sessions are dropped, they rarely change again.
    func store(_ committed: [OutlineSessionRow]) {
        rows.withLock { rows in
            if rows.count + committed.count > capacity { rows.removeAll(keepingCapacity: true) }
            for row in committed {
                if row.isActive { rows[row.id] = row } else { rows[row.id] = nil }
            }
        }
    }
}
