-- Enterprises and their end users (CONTRACT §2, §3).
-- Times are Unix microseconds (UTC). An applied migration is never edited.

CREATE TABLE enterprises (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    -- SHA-256 of the API key, hex; the key itself is never stored.
    api_key_hash  TEXT    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE users (
    -- List order and keyset cursor: only grows, never reused.
    position         INTEGER PRIMARY KEY AUTOINCREMENT,
    enterprise_id    INTEGER NOT NULL REFERENCES enterprises (id),
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
    email_required   INTEGER NOT NULL,
    sms_required     INTEGER NOT NULL,
    -- The rest of the full shape as JSON, identity numbers already masked.
    profile          TEXT    NOT NULL,
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deactivated_at   INTEGER,
    -- A user_id is taken forever, deactivated or not.
    UNIQUE (enterprise_id, user_id)
);

CREATE INDEX users_by_enterprise ON users (enterprise_id, active, position);
