-- Who submitted each bid, on the bid itself: its audit entry is derived from the row at
-- the close (trust.md 6: bid entries join the trail then) instead of a second row held
-- per bid in audit_held, which now only holds entries written before this migration and
-- by the anti-sniping path.
ALTER TABLE bids ADD COLUMN actor text;
