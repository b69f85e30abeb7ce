-- Columns nothing reads: the close is `closes_at` (moved by anti-sniping), never a
-- separate scheduled time; the number of bids per invitation is counted from `bids`.
ALTER TABLE rounds DROP COLUMN scheduled_close_at;
ALTER TABLE invitations DROP COLUMN bids_made;
-- No round is ever stored `closed`: the close sets `awarded` or `failed` in the same
-- transaction.
ALTER TABLE rounds DROP CONSTRAINT rounds_status;
ALTER TABLE rounds ADD CONSTRAINT rounds_status CHECK (status IN ('scheduled', 'open',
    'awarded', 'failed', 'cancelled', 'accepted', 'reawarded'));
