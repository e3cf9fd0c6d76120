-- Each user's two wire shapes as JSON, rendered whenever the row is written (in
-- the same statement): the list shape and the full shape. Reads of one user and
-- of a page of the list send these as they are. Rows written before this
-- migration hold NULL and are rendered when read.
ALTER TABLE users ADD COLUMN list_json TEXT;
ALTER TABLE users ADD COLUMN user_json TEXT;
