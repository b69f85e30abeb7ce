-- Bid amounts encrypted at rest until the result is published (trust.md 3).
-- The key (BID_ENCRYPTION_KEY) never enters the database, so this migration cannot
-- encrypt amounts already stored in clear: it refuses to run while a round that has
-- bids is still open (let it close, or cancel it, then migrate). The clear amounts of
-- rounds closed before it stay where they are, renamed legacy_*: read-only history
-- (published results, or cancelled rounds' bids); nothing writes them any more.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM invitations i JOIN rounds r ON r.id = i.round_id
                WHERE r.status IN ('scheduled', 'open') AND i.last_amount IS NOT NULL) THEN
        RAISE EXCEPTION 'bidding migration 0005 (bid amounts encrypted at rest) cannot '
            'encrypt the bids of rounds still open: let them close or cancel them, then '
            'migrate again (see docs/security.md)'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- bids: the amount as AES-256-GCM ciphertext bound to (round, supplier, bid).
ALTER TABLE bids RENAME COLUMN amount TO legacy_amount;
ALTER TABLE bids ALTER COLUMN legacy_amount DROP NOT NULL;
ALTER TABLE bids ADD COLUMN amount_ct bytea;
ALTER TABLE bids ADD CONSTRAINT bids_one_amount
    CHECK ((amount_ct IS NULL) <> (legacy_amount IS NULL));

-- invitations: the supplier's last amount, the same ciphertext as its bids row.
ALTER TABLE invitations RENAME COLUMN last_amount TO legacy_last_amount;
ALTER TABLE invitations ADD COLUMN last_amount_ct bytea;

-- rounds: the best valid amount so far, sealed (anti-sniping); NULL = recompute.
ALTER TABLE rounds ADD COLUMN best_ct bytea;
