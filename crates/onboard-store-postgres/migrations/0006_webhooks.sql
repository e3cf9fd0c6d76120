-- Outgoing webhooks (Standard Webhooks): each endpoint follows its enterprise's
-- event log with a cursor of its own, in event_id order; one node at a time holds
-- an endpoint's lease and sends its next message.
CREATE TABLE webhook_endpoints (
    id                TEXT    PRIMARY KEY,
    enterprise_id     BIGINT  NOT NULL REFERENCES enterprises (id),
    url               TEXT    NOT NULL,
    description       TEXT    NOT NULL DEFAULT '',
    -- A JSON array of event types, or NULL for every type.
    event_types       TEXT,
    enabled           BOOLEAN NOT NULL,
    disabled_reason   TEXT,
    secret            TEXT    NOT NULL,
    -- The secret before the last rotation, signing beside it until old_secret_until.
    old_secret        TEXT,
    old_secret_until  BIGINT,
    created_at        BIGINT  NOT NULL,
    -- The last event_id this endpoint is done with (delivered, given up or skipped).
    cursor            BIGINT  NOT NULL,
    -- Failed attempts at the next message, when it may be tried again, and since
    -- when the endpoint has been failing without a success in between.
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    failing_since     BIGINT,
    -- A one-event replay: after sending replay_to, the cursor jumps to resume_at.
    replay_to         BIGINT,
    resume_at         BIGINT,
    lease_owner       TEXT,
    lease_until       BIGINT
);

CREATE INDEX webhook_endpoints_by_enterprise ON webhook_endpoints (enterprise_id);

-- Every attempt, for the deliveries list.
CREATE TABLE webhook_attempts (
    id            BIGSERIAL PRIMARY KEY,
    endpoint_id   TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id      BIGINT  NOT NULL,
    message_id    TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    attempted_at  BIGINT  NOT NULL,
    -- succeeded, pending (will be retried) or failed (given up).
    status        TEXT    NOT NULL,
    status_code   INTEGER,
    duration_ms   BIGINT  NOT NULL,
    response      TEXT    NOT NULL
);

CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id);
