-- The daily quota of verification codes: when the codes of the last 24 hours on
-- each channel were sent (microseconds since the epoch, comma-separated).
ALTER TABLE verification_codes ADD COLUMN recent_sends TEXT NOT NULL DEFAULT '';

-- Idempotency keys: a claim while the first request runs (status NULL, leased
-- until locked_until), then its answer, kept 24 hours for retries.
CREATE TABLE idempotency_keys (
    enterprise_id   BIGINT  NOT NULL REFERENCES enterprises (id),
    idem_key        TEXT    NOT NULL,
    request_method  TEXT    NOT NULL,
    request_path    TEXT    NOT NULL,
    fingerprint     TEXT,
    status          INTEGER,
    response_body   TEXT,
    created_at      BIGINT  NOT NULL,
    locked_until    BIGINT  NOT NULL,
    PRIMARY KEY (enterprise_id, idem_key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
