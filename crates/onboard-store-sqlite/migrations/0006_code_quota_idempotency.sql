-- The daily quota of verification codes: when the codes of the last 24 hours on
-- each channel were sent (microseconds since the epoch, comma-separated).
ALTER TABLE verification_codes ADD COLUMN recent_sends TEXT NOT NULL DEFAULT '';

-- Idempotency keys: a claim while the first request runs (status NULL, leased
-- until locked_until), then its answer, kept 24 hours for retries.
CREATE TABLE idempotency_keys (
    enterprise_id   INTEGER NOT NULL REFERENCES enterprises (id),
    idem_key        TEXT    NOT NULL,
    request_method  TEXT    NOT NULL,
    request_path    TEXT    NOT NULL,
    -- SHA-256 of the first request's body; NULL while it runs.
    fingerprint     TEXT,
    status          INTEGER,
    response_body   TEXT,
    created_at      INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL,
    PRIMARY KEY (enterprise_id, idem_key)
) WITHOUT ROWID;

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
