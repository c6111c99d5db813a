-- Packs (issue 13): many small finished sessions compacted into one LZ4 block
-- (EventLog/Segments/EventPack.swift documents the layout). A session of a
-- handful of events alone in a segment keeps more than its JSON (its segment
-- row, compacted-session row and index entries cost about 830 bytes); in a
-- pack it keeps its compacted-session row, its entry in `sessions` and its
-- part of the block, compressed against its neighbours.
--
-- sessions, event_counts
--              the members in the block's order, and how many events each
--              holds: the position-order readers (LogScan, exports) filter on
--              them without unpacking.
-- codec, packed_size, json_size, digest, first/last_*
--              as for outline_event_segments, over the whole pack.
CREATE TABLE outline_event_packs (
    pack_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sessions       uuid[]      NOT NULL CHECK (cardinality(sessions) >= 1),
    event_counts   integer[]   NOT NULL CHECK (cardinality(event_counts) = cardinality(sessions)),
    first_position bigint      NOT NULL CHECK (first_position >= 1),
    last_position  bigint      NOT NULL,
    first_recorded_at timestamptz NOT NULL,
    last_recorded_at  timestamptz NOT NULL,
    event_count    integer     NOT NULL,
    codec          smallint    NOT NULL CHECK (codec = 1),
    body           bytea       NOT NULL,
    packed_size    integer     NOT NULL CHECK (packed_size > 0),
    json_size      bigint      NOT NULL CHECK (json_size >= 0),
    digest         bytea       NOT NULL CHECK (octet_length(digest) = 32),
    compacted_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outline_event_packs_positions CHECK (last_position >= first_position)
);
ALTER TABLE outline_event_packs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX outline_event_packs_first_position ON outline_event_packs (first_position);
CREATE INDEX outline_event_packs_span ON outline_event_packs USING gist (int8range(first_position, last_position, '[]'));

-- A packed session's compacted-session row names its pack (NULL: its own
-- segments). Adding a nullable column rewrites nothing, so it passes the
-- table's guard.
ALTER TABLE outline_compacted_sessions ADD COLUMN pack_id bigint;

-- Packs are history as segments are: changed or deleted only by an audited
-- change (a redaction rewrites one, retention rewrites or deletes one).
CREATE TRIGGER outline_event_packs_no_update_or_delete BEFORE UPDATE OR DELETE ON outline_event_packs
    FOR EACH STATEMENT EXECUTE FUNCTION outline_refuse_unaudited_change();
CREATE TRIGGER outline_event_packs_no_truncate BEFORE TRUNCATE ON outline_event_packs
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
