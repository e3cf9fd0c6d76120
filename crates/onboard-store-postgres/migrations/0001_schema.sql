-- Onboard on PostgreSQL: enterprises, end users, codes, outbox, tokens, events.
-- Times are Unix microseconds (UTC). An applied migration is never edited.

CREATE TABLE enterprises (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT   NOT NULL UNIQUE,
    -- SHA-256 of the API key, hex; the key itself is never stored.
    api_key_hash   TEXT   NOT NULL UNIQUE,
    created_at     BIGINT NOT NULL,
    -- The last event_id issued. Writers bump it under the row lock as the last
    -- step of their transaction, so per-enterprise ids are gap-free and commit
    -- (become visible) in order, whichever node writes.
    last_event_id  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE users (
    -- List order and keyset cursor.
    position         BIGSERIAL PRIMARY KEY,
    enterprise_id    BIGINT  NOT NULL REFERENCES enterprises (id),
    user_id          TEXT    NOT NULL,
    id               TEXT    NOT NULL UNIQUE,
    account_type     TEXT    NOT NULL,
    account_role     TEXT    NOT NULL,
    advisor_user_id  TEXT,
    email            TEXT    NOT NULL,
    first_name       TEXT    NOT NULL,
    last_name        TEXT    NOT NULL,
    phone_number     TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    email_required   BOOLEAN NOT NULL,
    sms_required     BOOLEAN NOT NULL,
    -- The rest of the full shape as JSON, identity numbers already masked.
    profile          TEXT    NOT NULL,
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    deactivated_at   BIGINT,
    -- A user_id is taken forever, deactivated or not.
    UNIQUE (enterprise_id, user_id)
);

CREATE INDEX users_by_enterprise ON users (enterprise_id, active, position);

CREATE TABLE events (
    enterprise_id  BIGINT NOT NULL REFERENCES enterprises (id),
    event_id       BIGINT NOT NULL,
    user_id        TEXT   NOT NULL,
    kind           TEXT   NOT NULL,
    cause          TEXT   NOT NULL,
    snapshot       TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (enterprise_id, event_id)
);

CREATE INDEX events_by_age ON events (created_at);

CREATE TABLE verification_codes (
    user_position    BIGINT  NOT NULL REFERENCES users (position),
    channel          TEXT    NOT NULL,
    code_hash        TEXT,
    sent_at          BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_position, channel)
);

CREATE TABLE outbox (
    id             BIGSERIAL PRIMARY KEY,
    enterprise_id  BIGINT NOT NULL REFERENCES enterprises (id),
    user_id        TEXT   NOT NULL,
    channel        TEXT   NOT NULL,
    recipient      TEXT   NOT NULL,
    code           TEXT   NOT NULL,
    sent_at        BIGINT NOT NULL
);

CREATE INDEX outbox_by_user ON outbox (enterprise_id, user_id, id);

CREATE TABLE user_tokens (
    token_hash     TEXT   PRIMARY KEY,
    user_position  BIGINT NOT NULL REFERENCES users (position),
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE INDEX user_tokens_by_expiry ON user_tokens (expires_at);
