import Foundation
import PostgresClient

/// Reads the log in global position order, page by page, from hot rows and
/// segments alike: what rebuilds, tallies, exports and `readLog` walk.
///
/// Each page stands on its own, so a session compacted while a scan runs loses
/// nothing: the page reads the hot rows first (those not covered by a
/// compaction committed before that query), then the segments that hold
/// positions in the page's range. An event is in one or the other, whatever
/// commits between the two queries; one in both (compacted just between them)
/// is taken once, by its position, which is unique in the log.
///
/// A segment spans the positions its session held, interleaved with other
/// sessions'; decoded segments are kept while the scan is inside their range,
/// so each is decoded once however many pages it spans.
public final class LogScan: @unchecked Sendable {
    /// Which events: a SQL condition on the hot rows (alias `e`) and on the
    /// segments (alias `s`), with the binds both use ($1…), and a last check on
    /// each event in Swift (the time range, which segments cannot index).
    public struct Filter: @unchecked Sendable {
        public var hotCondition: String
        public var segmentCondition: String
        public var binds: [(any PostgresEncodable)?]
        public var accepts: @Sendable (UUID, SegmentEvent) -> Bool

        public init(hotCondition: String = "true", segmentCondition: String = "true", binds: [(any PostgresEncodable)?] = [],
                    accepts: @escaping @Sendable (UUID, SegmentEvent) -> Bool = { _, _ in true }) {
            self.hotCondition = hotCondition
            self.segmentCondition = segmentCondition
            self.binds = binds
            self.accepts = accepts
        }

        public static let everything = Filter()
    }

    /// A segment by its session and first sequence, or a pack by its id.
    private enum SourceKey: Hashable {
        case segment(UUID, Int32)
        case pack(Int64)
    }

    /// A decoded segment (or the filter's members of a pack, merged) and where
    /// the scan stands in it: its events are in position order, so each page
    /// starts where the last one stopped.
    private final class Cached {
        let digest: [UInt8]
        let lastPosition: Int64
        let events: [(session: UUID, event: SegmentEvent)]
        var next = 0

        init(digest: [UInt8], lastPosition: Int64, events: [(session: UUID, event: SegmentEvent)]) {
            self.digest = digest
            self.lastPosition = lastPosition
            self.events = events
        }

        /// The next event after `position` and at most `bound`, if any.
        func peek(after position: Int64, bound: Int64) -> (session: UUID, event: SegmentEvent)? {
            while next < events.count, events[next].event.position <= position { next += 1 }
            guard next < events.count, events[next].event.position <= bound else { return nil }
            return events[next]
        }
    }

    public let filter: Filter
    /// The last position returned; the scan goes on after it.
    public private(set) var position: Int64
    /// Inclusive: the scan stops there (a rebuild's snapshot of the head).
    public let through: Int64
    /// How many segments starting inside one page's range are read at most
    /// (the page ends before the first one left out).
    public var segmentsPerPage = 32
    private var cache: [SourceKey: Cached] = [:]

    /// One caller at a time: `@unchecked Sendable` only so that it can be handed
    /// to a connection's thread page after page.
    public init(after position: Int64, through: Int64 = .max, filter: Filter = .everything) {
        self.filter = filter
        self.position = position
        self.through = through
    }

    /// The next events in position order that the filter accepts, at most
    /// `limit`; empty at the end.
    /// A page shorter than `limit` means the scan reached its end.
    public func next(limit: Int, on connection: isolated PostgresConnection) throws -> [(session: UUID, event: SegmentEvent)] {
        let limit = max(1, limit)
        var events: [(session: UUID, event: SegmentEvent)] = []
        while events.count < limit {
            let page = try page(limit: limit - events.count, on: connection)
            if page.isEmpty { break }
            events += page.lazy.filter { self.filter.accepts($0.session, $0.event) }
        }
        return events
    }

    /// The next events in position order, before the Swift-side filter; empty only at the end.
    private func page(limit: Int, on connection: isolated PostgresConnection) throws -> [(session: UUID, event: SegmentEvent)] {
        guard position < through else { return [] }
        let binds = filter.binds
        let n = binds.count
        // A page of hot rows in position order, each marked if a compaction covers
        // it (those are skipped: their segment is read instead). Marking rather
        // than filtering keeps this an index range scan of `limit` rows: an
        // anti-join would walk every covered row of a compacted partition per page.
        let hot = try connection.query(
            """
            SELECT h.*, EXISTS (SELECT 1 FROM outline_compacted_sessions c WHERE c.session_id = h.session_id AND h.sequence <= c.covered_through)
              FROM (SELECT \(EventStore.selectColumns) FROM outline_events e
                     WHERE e.position > $\(n + 1) AND e.position <= $\(n + 2) AND (\(filter.hotCondition))
                     ORDER BY e.position LIMIT $\(n + 3)) h
             ORDER BY h.position
            """,
            binds: binds + [position, through, Int64(limit)]
        )
        // Complete up to here: past the last hot row of a full page, another hot row may come first.
        var bound = hot.count == limit ? try hot[hot.count - 1].decode(Int64.self, at: 0) : through
        // Segments reaching into (position, bound]: those begun before it (as many
        // as there are sessions that were running there), then a page of those that
        // begin inside it.
        let straddling = try connection.query(
            """
            SELECT s.session_id, s.first_sequence, s.last_position, s.digest FROM outline_event_segments s
             WHERE int8range(s.first_position, s.last_position, '[]') @> $\(n + 1)::int8 AND s.last_position > $\(n + 1)
               AND (\(filter.segmentCondition))
            """,
            binds: binds + [position]
        )
        let inside = try connection.query(
            """
            SELECT s.session_id, s.first_sequence, s.last_position, s.digest, s.first_position FROM outline_event_segments s
             WHERE s.first_position > $\(n + 1) AND s.first_position <= $\(n + 2) AND (\(filter.segmentCondition))
             ORDER BY s.first_position LIMIT $\(n + 3)
            """,
            binds: binds + [position, bound, Int64(segmentsPerPage)]
        )
        if inside.count == segmentsPerPage {
            // Segments beginning after the last one read are left for the next page.
            bound = min(bound, try inside[inside.count - 1].decode(Int64.self, at: 4))
        }
        // Packs the same way; each names the members the filter takes (alias `s`
        // as for segments, with the pack's time range standing for each member's).
        let members = """
            (SELECT array_to_string(ARRAY(SELECT s.session_id FROM (SELECT m.session_id, p.first_recorded_at, p.last_recorded_at
                FROM unnest(p.sessions) AS m(session_id)) s WHERE \(filter.segmentCondition)), ','))
            """
        let packsStraddling = try connection.query(
            """
            SELECT * FROM (SELECT p.pack_id, p.last_position, p.digest, p.first_position, \(members) AS members FROM outline_event_packs p
             WHERE int8range(p.first_position, p.last_position, '[]') @> $\(n + 1)::int8 AND p.last_position > $\(n + 1)) k
             WHERE k.members <> ''
            """,
            binds: binds + [position]
        )
        let packsInside = try connection.query(
            """
            SELECT * FROM (SELECT p.pack_id, p.last_position, p.digest, p.first_position, \(members) AS members FROM outline_event_packs p
             WHERE p.first_position > $\(n + 1) AND p.first_position <= $\(n + 2)) k
             WHERE k.members <> '' ORDER BY k.first_position LIMIT $\(n + 3)
            """,
            binds: binds + [position, bound, Int64(segmentsPerPage)]
        )
        if packsInside.count == segmentsPerPage {
            bound = min(bound, try packsInside[packsInside.count - 1].decode(Int64.self, at: 3))
        }
        var wanted: [(SourceKey, [UInt8], Int64)] = []
        for row in straddling { wanted.append((.segment(try row.decode(UUID.self, at: 0), try row.decode(Int32.self, at: 1)), try row.decode(PostgresBytes.self, at: 3).bytes, try row.decode(Int64.self, at: 2))) }
        for row in inside { wanted.append((.segment(try row.decode(UUID.self, at: 0), try row.decode(Int32.self, at: 1)), try row.decode(PostgresBytes.self, at: 3).bytes, try row.decode(Int64.self, at: 2))) }
        var packMembers: [Int64: Set<UUID>] = [:]
        for row in packsStraddling.map({ $0 }) + packsInside.map({ $0 }) {
            let id = try row.decode(Int64.self, at: 0)
            wanted.append((.pack(id), try row.decode(PostgresBytes.self, at: 2).bytes, try row.decode(Int64.self, at: 1)))
            packMembers[id] = Set(try row.decode(String.self, at: 4).split(separator: ",").compactMap { UUID(uuidString: String($0)) })
        }
        var seen = Set<SourceKey>()
        wanted = wanted.filter { seen.insert($0.0).inserted }
        let stale = wanted.filter { cache[$0.0]?.digest != $0.1 }.map(\.0)
        try load(stale.compactMap { if case .segment(let session, let first) = $0 { (session, first) } else { nil } }, on: connection)
        for key in stale { if case .pack(let id) = key { try loadPack(id, members: packMembers[id] ?? [], on: connection) } }

        // Merge the hot rows with every segment in range, smallest position first.
        let segments = wanted.compactMap { cache[$0.0] }
        var merged: [(session: UUID, event: SegmentEvent)] = []
        merged.reserveCapacity(min(limit, 8192))
        var hotIndex = 0
        var nextHot = try hotEvent(hot, &hotIndex, bound: bound)
        var cursor = position
        while merged.count < limit {
            var best: (session: UUID, event: SegmentEvent)?
            for segment in segments {
                if let event = segment.peek(after: cursor, bound: bound), event.event.position < (best?.event.position ?? .max) {
                    best = event
                }
            }
            if let h = nextHot, h.event.position <= (best?.event.position ?? .max) {
                if let best, best.event.position == h.event.position {
                    // Compacted between the two queries: the same event, taken once (from the segment).
                    merged.append(best)
                } else {
                    merged.append(h)
                }
                hotIndex += 1
                nextHot = try hotEvent(hot, &hotIndex, bound: bound)
            } else if let best {
                merged.append(best)
            } else {
                break
            }
            cursor = merged[merged.count - 1].event.position
        }
        if let last = merged.last { position = last.event.position } else { position = bound }
        // Segments the scan has passed are not needed again.
        cache = cache.filter { $0.value.lastPosition > position }
        if merged.isEmpty && position < through { return try page(limit: limit, on: connection) }
        return merged
    }

    /// The next hot row from `index` on that no compaction covers, at most `bound`; `index` moves past covered ones.
    private func hotEvent(_ rows: PostgresRows, _ index: inout Int, bound: Int64) throws -> (session: UUID, event: SegmentEvent)? {
        while index < rows.count, try rows[index].decode(Bool.self, at: 11) { index += 1 }
        guard index < rows.count else { return nil }
        let event = try EventStore.decodeStored(rows[index])
        guard event.position <= bound else { return nil }
        return (try rows[index].decode(UUID.self, at: 1), event)
    }

    private func load(_ keys: [(UUID, Int32)], on connection: isolated PostgresConnection) throws {
        guard !keys.isEmpty else { return }
        for start in stride(from: 0, to: keys.count, by: 64) {
            let chunk = keys[start..<min(start + 64, keys.count)]
            let rows = try connection.query(
                """
                SELECT \(EventStore.segmentColumns) FROM outline_event_segments
                 WHERE (session_id, first_sequence) IN (SELECT * FROM unnest($1::uuid[], $2::int4[]))
                """,
                PostgresArray(chunk.map(\.0)), PostgresArray(chunk.map(\.1))
            )
            for row in rows {
                let segment = try EventStore.decodeSegment(row)
                let session = try row.decode(UUID.self, at: 0)
                cache[.segment(session, segment.firstSequence)] = Cached(
                    digest: try row.decode(PostgresBytes.self, at: 9).bytes, lastPosition: segment.lastPosition,
                    events: segment.events.map { (session, $0) })
            }
        }
    }

    /// Decodes a pack (checking its digest and layout) and keeps the events of
    /// the members the filter takes, merged in position order.
    private func loadPack(_ id: Int64, members: Set<UUID>, on connection: isolated PostgresConnection) throws {
        let rows = try connection.query(
            "SELECT body, packed_size, digest, array_to_string(sessions, ','), last_position FROM outline_event_packs WHERE pack_id = $1", id)
        guard let row = rows.first else { return }
        let digest = try row.decode(PostgresBytes.self, at: 2).bytes
        let sessions = try row.decode(String.self, at: 3).split(separator: ",").compactMap { UUID(uuidString: String($0)) }
        let pack: EventPack
        do {
            pack = try StoredPack.pack(body: try row.decode(PostgresBytes.self, at: 0).bytes, packedSize: Int(try row.decode(Int32.self, at: 1)),
                                       digest: digest, sessions: sessions)
        } catch {
            throw EventLogError.corruptSegment(sessionID: sessions.first ?? UUID(), firstSequence: 1, reason: "pack \(id): \(error)")
        }
        var events: [(session: UUID, event: SegmentEvent)] = []
        for member in pack.members where members.contains(member.session) {
            events += member.segment.events.map { (member.session, $0) }
        }
        events.sort { $0.event.position < $1.event.position }
        cache[.pack(id)] = Cached(digest: digest, lastPosition: try row.decode(Int64.self, at: 4), events: events)
    }
}
