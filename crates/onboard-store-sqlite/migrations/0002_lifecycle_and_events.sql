-- Verification codes, the outbox, user tokens and the event log (CONTRACT §4, §5).

-- The last event_id issued to each enterprise. Ids are allocated by bumping this
-- inside the writing transaction, so they are gap-free and commit in order.
ALTER TABLE enterprises ADD COLUMN last_event_id INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    enterprise_id  INTEGER NOT NULL REFERENCES enterprises (id),
    event_id       INTEGER NOT NULL,
    user_id        TEXT    NOT NULL,
    -- user.registered | user.updated | user.deactivated
    kind           TEXT    NOT NULL,
    -- Why it happened: "registered", "email verified", "approved by an operator"…
    cause          TEXT    NOT NULL,
    -- The user's list shape right after the change, as JSON.
    snapshot       TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (enterprise_id, event_id)
) WITHOUT ROWID;

CREATE INDEX events_by_age ON events (created_at);

-- One code per user and channel; a new code replaces the old one.
CREATE TABLE verification_codes (
    user_position    INTEGER NOT NULL REFERENCES users (position),
    channel          TEXT    NOT NULL,
    -- SHA-256 of (user id, channel, code); NULL once the code was used.
    code_hash        TEXT,
    sent_at          INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_position, channel)
) WITHOUT ROWID;

-- Messages of the outbox delivery channel: what the user would have received.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    enterprise_id  INTEGER NOT NULL REFERENCES enterprises (id),
    user_id        TEXT    NOT NULL,
    channel        TEXT    NOT NULL,
    recipient      TEXT    NOT NULL,
    code           TEXT    NOT NULL,
    sent_at        INTEGER NOT NULL
);

CREATE INDEX outbox_by_user ON outbox (enterprise_id, user_id, id);

-- User auth tokens, by the SHA-256 of the token; the token itself is never stored.
CREATE TABLE user_tokens (
    token_hash     TEXT    PRIMARY KEY,
    user_position  INTEGER NOT NULL REFERENCES users (position),
    expires_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX user_tokens_by_expiry ON user_tokens (expires_at);
