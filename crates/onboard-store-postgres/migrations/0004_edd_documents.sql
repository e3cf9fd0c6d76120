-- Enhanced due diligence and documents (CONTRACT §7).

-- What an EDD or document event is about (the request or the document), as
-- JSON; NULL for user events.
ALTER TABLE events ADD COLUMN detail TEXT;

CREATE TABLE edd_requests (
    id             BIGSERIAL PRIMARY KEY,
    enterprise_id  BIGINT  NOT NULL REFERENCES enterprises (id),
    user_position  BIGINT  NOT NULL REFERENCES users (position),
    user_id        TEXT    NOT NULL,
    -- 1: EDDQ - Individual, 2: EDDQ - Business
    ddq_id         BIGINT  NOT NULL,
    -- REQUESTED | PARTIAL_SUBMISSION | IN_REVIEW | REVIEWED
    status         TEXT    NOT NULL,
    -- {"<prompt id>": {"response", "optional_free_form"?}}
    answers        TEXT,
    -- The file names (without extension) the File-Upload answers name, JSON.
    files          TEXT,
    reviewed_by    TEXT,
    review_note    TEXT,
    date_added     BIGINT  NOT NULL,
    date_updated   BIGINT  NOT NULL
);

CREATE INDEX edd_requests_by_user ON edd_requests (enterprise_id, user_id, id);

CREATE TABLE documents (
    id             BIGSERIAL PRIMARY KEY,
    enterprise_id  BIGINT  NOT NULL REFERENCES enterprises (id),
    user_position  BIGINT  NOT NULL REFERENCES users (position),
    user_id        TEXT    NOT NULL,
    filename       TEXT    NOT NULL,
    -- The file name without its extension: what a File-Upload answer names.
    stem           TEXT    NOT NULL,
    document_type  TEXT    NOT NULL,
    -- Sniffed from the bytes, never taken from the client.
    content_type   TEXT    NOT NULL,
    size           BIGINT  NOT NULL,
    sha256         TEXT    NOT NULL,
    -- api_key | user_token
    uploaded_by    TEXT    NOT NULL,
    uploaded_at    BIGINT  NOT NULL,
    ddq_id         BIGINT
);

CREATE INDEX documents_by_user ON documents (enterprise_id, user_id, id);

-- A document's bytes in pieces of 256 KiB, written and read one at a time.
CREATE TABLE document_chunks (
    document_id  BIGINT  NOT NULL REFERENCES documents (id),
    seq          BIGINT  NOT NULL,
    bytes        BYTEA   NOT NULL,
    PRIMARY KEY (document_id, seq)
);

-- Images and PDFs are already compressed: store the pieces out of line as they
-- are, without a compression attempt on every write.
ALTER TABLE document_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
