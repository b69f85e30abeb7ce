-- The audit trail becomes a hash chain (trust.md section 6): every entry appended from
-- now on carries content_hash and hash, with seq assigned under the head row's lock so
-- the chain has no gaps. Entries written before this migration (if any) stay as they
-- were, unhashed: the chain starts after them (audit_head.genesis_seq).
ALTER TABLE audit_log ADD COLUMN content_hash text, ADD COLUMN hash text;

CREATE TABLE audit_head (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    genesis_seq bigint NOT NULL,
    seq         bigint NOT NULL,
    hash        text NOT NULL
);
INSERT INTO audit_head (genesis_seq, seq, hash)
SELECT coalesce(max(seq), 0), coalesce(max(seq), 0), repeat('0', 64) FROM audit_log;
