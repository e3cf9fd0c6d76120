-- API keys that rotate and revoke, operators, and who acted (CONTRACT §8).

-- An enterprise holds any number of keys. A key is refused once revoked_at is set
-- or expires_at has passed; rows are kept, so a key id keeps its history.
CREATE TABLE api_keys (
    -- 'key_' and 32 hex characters; shown by `onboard keys list`.
    id             TEXT    PRIMARY KEY,
    enterprise_id  INTEGER NOT NULL REFERENCES enterprises (id),
    label          TEXT    NOT NULL DEFAULT '',
    -- SHA-256 of the key, hex; the key itself is never stored.
    key_hash       TEXT    NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL,
    created_by     TEXT,
    -- Written at most once a minute per key, whichever node sees it used.
    last_used_at   INTEGER,
    expires_at     INTEGER,
    revoked_at     INTEGER,
    revoked_by     TEXT,
    -- The key a rotation made to replace this one.
    replaced_by    TEXT,
    -- The key generation of this row's last change: nodes read the rows that
    -- changed after the generation they last saw.
    generation     INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX api_keys_by_enterprise ON api_keys (enterprise_id, created_at);
CREATE INDEX api_keys_by_generation ON api_keys (generation);

-- Bumped by every change of a key, in the changing transaction. Every node reads
-- it a few times a second and drops what it remembers of keys when it moves.
CREATE TABLE key_generation (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  INTEGER NOT NULL
);

INSERT INTO key_generation (id, value) VALUES (1, 0);

-- Each enterprise's existing key becomes its first row here and keeps working.
-- enterprises.api_key_hash stays (SQLite cannot drop a UNIQUE column); it holds
-- the first key's hash and nothing reads it any more.
INSERT INTO api_keys (id, enterprise_id, label, key_hash, created_at)
SELECT 'key_' || lower(hex(randomblob(16))), id, 'first key', api_key_hash, created_at
FROM enterprises;

-- The people who use the console and the review commands.
CREATE TABLE operators (
    name           TEXT    PRIMARY KEY,
    -- admin | reviewer
    role           TEXT    NOT NULL,
    -- Argon2id, as a PHC string.
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    password_set_at INTEGER NOT NULL,
    disabled_at    INTEGER
) WITHOUT ROWID;

-- Who acted, and why, for events an operator caused (approve, reject).
ALTER TABLE events ADD COLUMN operator TEXT;
ALTER TABLE events ADD COLUMN note TEXT;
