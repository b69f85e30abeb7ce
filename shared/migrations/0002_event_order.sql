-- v2 (trust.md section 7): every event carries `partitionkey` and a gapless `sequence`
-- per (source, partitionkey), assigned in the emitting transaction.
CREATE TABLE event_sequences (
    source        text NOT NULL,
    partitionkey  text NOT NULL,
    last_sequence bigint NOT NULL,
    PRIMARY KEY (source, partitionkey)
);

-- The relay keeps per-partition order and backs off a failing row on its own.
ALTER TABLE outbox
    ADD COLUMN partitionkey    text,
    ADD COLUMN sequence        bigint,
    ADD COLUMN next_attempt_at timestamptz;
CREATE INDEX outbox_unsent_partition ON outbox (partitionkey, seq) WHERE published_at IS NULL;

-- What a consumer has applied, per source and partition: an event is applied only
-- after its predecessor (held meanwhile, within a bound), a stale one is recognised.
CREATE TABLE inbox_partitions (
    source       text NOT NULL,
    partitionkey text NOT NULL,
    applied      bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (source, partitionkey)
);
ALTER TABLE inbox
    ADD COLUMN partitionkey text,
    ADD COLUMN sequence     bigint,
    ADD COLUMN outcome      text NOT NULL DEFAULT 'applied';
