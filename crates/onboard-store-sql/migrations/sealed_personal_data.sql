-- Personal data sealed at rest (CONTRACT §12). A user row written from now on
-- holds its data key wrapped by the master key in `data_key`, and its email,
-- names, phone number and profile sealed together in `sealed` (the plain
-- columns hold empty text); its stored wire JSON is sealed too. The blind
-- indexes are what the console's search compares: the email, the first and the
-- last name, each lower-cased. Rows with no
-- `data_key` were written before sealing and are read as they are until the
-- upgrade pass seals them.
ALTER TABLE users ADD COLUMN data_key TEXT;
ALTER TABLE users ADD COLUMN sealed TEXT;
ALTER TABLE users ADD COLUMN email_index TEXT;
ALTER TABLE users ADD COLUMN first_name_index TEXT;
ALTER TABLE users ADD COLUMN last_name_index TEXT;
CREATE INDEX users_by_email_index ON users (email_index);
CREATE INDEX users_by_first_name_index ON users (first_name_index);
CREATE INDEX users_by_last_name_index ON users (last_name_index);
-- Sealed under their user's data key when `sealed` is set: an event's snapshot
-- and detail; an outbox message's recipient and code; a document's file name
-- and bytes (its `stem` then holds a blind index, as do the `files` its EDD
-- request names); an EDD request's answers.
ALTER TABLE events ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE outbox ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE documents ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE edd_requests ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT FALSE;
