-- The round timer's per-round failure record: a close that keeps failing is retried
-- with a capped exponential backoff instead of blocking every later close, and the
-- center can see it in the round (a short error code, never a message with data).
ALTER TABLE rounds ADD COLUMN close_attempts integer NOT NULL DEFAULT 0,
                   ADD COLUMN last_close_error text,
                   ADD COLUMN next_close_attempt_at timestamptz;
-- The same for award expiries.
ALTER TABLE awards ADD COLUMN expiry_attempts integer NOT NULL DEFAULT 0,
                   ADD COLUMN last_expiry_error text,
                   ADD COLUMN next_expiry_attempt_at timestamptz;
-- A fallback award (after a decline or an expiry) skips bidders no longer admitted in
-- the pool at that moment; the ranking keeps why each was skipped.
ALTER TABLE round_results ADD COLUMN skipped_at timestamptz,
                          ADD COLUMN skipped_reason text;
