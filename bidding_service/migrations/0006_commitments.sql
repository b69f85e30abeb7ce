-- trust.md sections 5 and 6: the Merkle commitment a round publishes when it closes (or
-- is cancelled), the audit head each award notice carries, and the bid audit entries
-- held back until their round closes (never shown by the API; a cancelled round's stay
-- here for good). No leaf, signature or amount is stored: they are computed when needed.
ALTER TABLE rounds ADD COLUMN bids_root text, ADD COLUMN bids_tree_size integer;
ALTER TABLE awards ADD COLUMN audit_seq bigint, ADD COLUMN audit_hash text;

CREATE TABLE audit_held (
    round_id   uuid NOT NULL,
    bid_id     uuid NOT NULL,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    actor_role text NOT NULL,
    action     text NOT NULL,
    subject    text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (round_id, bid_id)
);
