-- The event log: every session action and every provider stream delta, in order.
--
-- position          global order, assigned under one lock (see 0003) so that a
--                   reader tailing the whole log by position never misses a row.
-- session_id, sequence
--                   the session's own dense 1..n numbering; the pair is unique
--                   and the sequence is the SSE event id.
-- codec             0 = raw JSON, 1 = LZ4 block of the JSON; raw_size is the JSON's
--                   length, which LZ4 needs to decode and which audits report.
-- provider_sequence the provider stream's sequence_number for events that came
--                   from it (dedupe on resume, see 0006); NULL otherwise.
-- chain_link        SHA-256(previous link, sequence, type, SHA-256(raw JSON)):
--                   proves order and content without covering the stored bytes,
--                   so a payload can be redacted later without breaking it.
CREATE TABLE outline_events (
    position          bigint      NOT NULL,
    session_id        uuid        NOT NULL,
    sequence          integer     NOT NULL CHECK (sequence >= 1),
    event_type        text        NOT NULL CHECK (event_type <> ''),
    schema_version    smallint    NOT NULL CHECK (schema_version >= 1),
    codec             smallint    NOT NULL CHECK (codec IN (0, 1)),
    payload           bytea       NOT NULL,
    raw_size          integer     NOT NULL CHECK (raw_size >= 0),
    provider_sequence integer,
    recorded_at       timestamptz NOT NULL,
    chain_link        bytea       NOT NULL CHECK (octet_length(chain_link) = 32),
    CONSTRAINT outline_events_pkey PRIMARY KEY (position),
    CONSTRAINT outline_events_session_sequence_key UNIQUE (session_id, sequence)
);

-- Payloads are already LZ4-compressed (or too small to gain): PostgreSQL must not
-- spend time compressing them again. EXTERNAL = out-of-line allowed, no pglz.
ALTER TABLE outline_events ALTER COLUMN payload SET STORAGE EXTERNAL;

COMMENT ON TABLE outline_events IS 'Append-only event log of outline sessions; see Schema/migrations.';
