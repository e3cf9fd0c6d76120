-- Each user's two wire shapes as JSON, rendered whenever the row is written (in
-- the same statement): the list shape and the full shape. Reads of one user and
-- of a page of the list send these as they are. `rendered_at` is the row's
-- `updated_at` when they were rendered: a write that changed the row without
-- rendering them (one by an earlier release, on a node not yet upgraded) moves
-- `updated_at` past it, and reads then render from the columns, as they do for
-- the rows written before this migration, which hold NULL.
ALTER TABLE users ADD COLUMN list_json TEXT;
ALTER TABLE users ADD COLUMN user_json TEXT;
ALTER TABLE users ADD COLUMN rendered_at BIGINT;
