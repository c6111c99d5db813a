-- Feature flags every server instance reads, so that all of them agree:
-- USE_STREAMING (V3 start allowed) and the streaming rollout percentage.
--
-- A missing row means "use the instance's configured default". Each change is
-- recorded with who made it, when, and the value before and after: flipping
-- streaming off is the product's instant rollback, and operators need to know
-- who pulled it.
CREATE TABLE outline_feature_flags (
    name       text        PRIMARY KEY CHECK (name IN ('use_streaming', 'streaming_rollout_percent')),
    value      jsonb       NOT NULL,
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The audit trail: append-only by use (the admin endpoint only inserts).
CREATE TABLE outline_feature_flag_changes (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    old_value  jsonb,
    new_value  jsonb       NOT NULL,
    changed_by text        NOT NULL,
    reason     text,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX outline_feature_flag_changes_by_time ON outline_feature_flag_changes (changed_at DESC);
