-- The operator console's sessions and sign-in lockout (CONTRACT §10).
-- Both live in the database so that every node sharing it agrees.
-- Written once for both engines, in SQL both accept (BIGINT has INTEGER
-- affinity in SQLite).

CREATE TABLE console_sessions (
    -- SHA-256 of the session token (256 random bits), hex; the token is never stored.
    token_hash     TEXT    PRIMARY KEY,
    operator       TEXT    NOT NULL REFERENCES operators (name),
    -- The token every form of the session carries (random, per session).
    csrf           TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    last_seen_at   BIGINT  NOT NULL,
    -- last_seen_at plus the idle limit: housekeeping deletes rows past it.
    expires_at     BIGINT  NOT NULL
);

CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- Failed sign-ins per name, known or not, within the current window.
CREATE TABLE console_sign_in_failures (
    name           TEXT    PRIMARY KEY,
    window_start   BIGINT  NOT NULL,
    failures       BIGINT  NOT NULL,
    locked_until   BIGINT ,
    -- When the row stops mattering (end of its window or lock): housekeeping
    -- deletes rows past it, so unknown names cannot grow the table for good.
    forget_at      BIGINT  NOT NULL
);

CREATE INDEX console_sign_in_failures_by_age ON console_sign_in_failures (forget_at);

-- The review queue reads PENDING users across enterprises, oldest first.
CREATE INDEX users_by_status ON users (status, active, position);

-- A user's timeline on the console reads its events newest first.
CREATE INDEX events_by_user ON events (enterprise_id, user_id, event_id);
