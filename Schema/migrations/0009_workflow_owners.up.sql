-- Who owns each workflow: the API lets a user reach only the workflows they own.
--
-- A workflow is claimed by the first user who starts a session for it (or
-- creates it explicitly); the claim is one INSERT ... ON CONFLICT DO NOTHING, so
-- two users racing for a new workflow cannot both own it. This is access
-- control, not session state: it is not derived from the event log, and
-- rebuilding a projection never touches it.
CREATE TABLE outline_workflows (
    workflow_id text        PRIMARY KEY CHECK (workflow_id <> '' AND length(workflow_id) <= 200),
    owner_id    text        NOT NULL CHECK (owner_id <> ''),
    title       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- "My workflows", newest first, for the web page.
CREATE INDEX outline_workflows_by_owner ON outline_workflows (owner_id, created_at DESC);
