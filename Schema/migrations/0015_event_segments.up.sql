-- Compacted history (issue 13): a finished session's events packed, in
-- sequence order, into LZ4-compressed segments (EventLog/Segments/EventSegment.swift
-- documents the packed layout). Each segment keeps every column of every event
-- it holds (position, type, schema version, codec and stored size, provider
-- sequence, recorded-at, chain link, the payload's JSON), so a reader returns
-- the same events from a segment as from the hot rows it replaces.
--
-- codec        1 = LZ4 block of the packed bytes; packed_size is their length.
-- digest       SHA-256 of body as stored: the verifier checks it, and dropping a
--              partition records it.
-- json_size    the payloads' JSON summed: what the segment stands for (ratios).
-- first/last_recorded_at
--              the earliest and latest recorded-at inside, so a time-range
--              export fetches only the segments that can hold its events.
CREATE TABLE outline_event_segments (
    session_id     uuid        NOT NULL,
    first_sequence integer     NOT NULL CHECK (first_sequence >= 1),
    last_sequence  integer     NOT NULL,
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
    CONSTRAINT outline_event_segments_pkey PRIMARY KEY (session_id, first_sequence),
    CONSTRAINT outline_event_segments_range CHECK (last_sequence >= first_sequence AND event_count = last_sequence - first_sequence + 1),
    CONSTRAINT outline_event_segments_positions CHECK (last_position >= first_position)
);
-- Already LZ4: PostgreSQL must not compress it again.
ALTER TABLE outline_event_segments ALTER COLUMN body SET STORAGE EXTERNAL;
-- Readers of the whole log in position order (LogScan) ask which segments
-- begin inside a range of positions, and which span a position.
CREATE INDEX outline_event_segments_first_position ON outline_event_segments (first_position);
CREATE INDEX outline_event_segments_span ON outline_event_segments USING gist (int8range(first_position, last_position, '[]'));

-- One row per compacted session: its events 1..covered_through live in
-- segments, and a reader skips hot rows at or below it (they stay until their
-- partition is dropped). Written in the same transaction as the segments.
CREATE TABLE outline_compacted_sessions (
    session_id      uuid        PRIMARY KEY,
    covered_through integer     NOT NULL CHECK (covered_through >= 1),
    segments        integer     NOT NULL CHECK (segments >= 1),
    json_size       bigint      NOT NULL,
    stored_size     bigint      NOT NULL,
    -- The sequences of its session.failed and session.resumed events: what the
    -- diagnostics page counts, found without unpacking (0011's partial index
    -- plays that part for hot rows).
    problem_sequences integer[] NOT NULL DEFAULT '{}',
    compacted_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outline_compacted_sessions_problems ON outline_compacted_sessions (compacted_at) WHERE problem_sequences <> '{}';

-- Segments are history too: no UPDATE, DELETE or TRUNCATE, as on outline_events.
CREATE TRIGGER outline_event_segments_no_update_or_delete
    BEFORE UPDATE OR DELETE ON outline_event_segments
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
CREATE TRIGGER outline_event_segments_no_truncate
    BEFORE TRUNCATE ON outline_event_segments
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
CREATE TRIGGER outline_compacted_sessions_no_update_or_delete
    BEFORE UPDATE OR DELETE ON outline_compacted_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
CREATE TRIGGER outline_compacted_sessions_no_truncate
    BEFORE TRUNCATE ON outline_compacted_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION outline_events_refuse_change();
