-- Secrets every process sharing the database must agree on (e.g. the key that
-- seals list cursors), generated once by whichever process needs one first.
CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;
