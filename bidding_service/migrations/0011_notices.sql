-- transparency.md: the public notices, a projection of this service's own events written
-- in the transaction of the event (one notice per event at most; its id is the event's).
CREATE TABLE notices (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL,
    round_id     uuid NOT NULL,
    pool_id      uuid NOT NULL,
    pool_code    text NOT NULL,
    pool_name    text NOT NULL,
    title        text NOT NULL,
    buyer        jsonb NOT NULL,
    method       text NOT NULL,
    published_at timestamptz NOT NULL,
    body         jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT notices_kind CHECK (kind IN ('invitation', 'extension', 'result',
        'award_update', 'failure', 'cancellation', 'question_answer'))
);
CREATE INDEX notices_listing ON notices (published_at DESC, id DESC);
CREATE INDEX notices_kind ON notices (kind, published_at DESC, id DESC);
CREATE INDEX notices_pool ON notices (pool_id, published_at DESC, id DESC);
CREATE INDEX notices_round ON notices (round_id);
