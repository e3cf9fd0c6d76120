-- Enhanced due diligence and documents (CONTRACT §7).

-- What an EDD or document event is about (the request or the document), as
-- JSON; NULL for user events.
ALTER TABLE events ADD COLUMN detail TEXT;

CREATE TABLE edd_requests (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    enterprise_id  INTEGER NOT NULL REFERENCES enterprises (id),
    user_position  INTEGER NOT NULL REFERENCES users (position),
    user_id        TEXT    NOT NULL,
    -- 1: EDDQ - Individual, 2: EDDQ - Business
    ddq_id         INTEGER NOT NULL,
    -- REQUESTED | PARTIAL_SUBMISSION | IN_REVIEW | REVIEWED
    status         TEXT    NOT NULL,
    -- {"<prompt id>": {"response", "optional_free_form"?}}
    answers        TEXT,
    -- The file names (without extension) the File-Upload answers name, JSON.
    files          TEXT,
    reviewed_by    TEXT,
    review_note    TEXT,
    date_added     INTEGER NOT NULL,
    date_updated   INTEGER NOT NULL
);

CREATE INDEX edd_requests_by_user ON edd_requests (enterprise_id, user_id, id);

CREATE TABLE documents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    enterprise_id  INTEGER NOT NULL REFERENCES enterprises (id),
    user_position  INTEGER NOT NULL REFERENCES users (position),
    user_id        TEXT    NOT NULL,
    filename       TEXT    NOT NULL,
    -- The file name without its extension: what a File-Upload answer names.
    stem           TEXT    NOT NULL,
    document_type  TEXT    NOT NULL,
    -- Sniffed from the bytes, never taken from the client.
    content_type   TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    sha256         TEXT    NOT NULL,
    -- api_key | user_token
    uploaded_by    TEXT    NOT NULL,
    uploaded_at    INTEGER NOT NULL,
    ddq_id         INTEGER
);

CREATE INDEX documents_by_user ON documents (enterprise_id, user_id, id);

-- A document's bytes in pieces of 256 KiB, written and read one at a time.
CREATE TABLE document_chunks (
    document_id  INTEGER NOT NULL REFERENCES documents (id),
    seq          INTEGER NOT NULL,
    bytes        BLOB    NOT NULL,
    PRIMARY KEY (document_id, seq)
);
