-- The daily quota of verification codes: when the codes of the last 24 hours on
-- each channel were sent (microseconds since the epoch, comma-separated).
ALTER TABLE verification_codes ADD COLUMN recent_sends TEXT NOT NULL DEFAULT '';
