-- The bidding service's copy of the pools, fed only by pool.* events.
CREATE TABLE pools (
    pool_id          uuid PRIMARY KEY,
    code             text NOT NULL,
    name             text NOT NULL,
    terminated       boolean NOT NULL DEFAULT false,
    valid_from       date NOT NULL,
    valid_to         date NOT NULL,
    price_ceiling    numeric(16, 2) NOT NULL,
    max_round_budget numeric(16, 2) NOT NULL,
    version          integer NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Who is in which pool, as the pool service last told us (version-ordered).
CREATE TABLE eligibility (
    pool_id     uuid NOT NULL,
    supplier_id uuid NOT NULL,
    status      text NOT NULL,
    name        text NOT NULL,
    credit_code text NOT NULL,
    kind        text NOT NULL,
    size        text NOT NULL,
    version     integer NOT NULL,
    changed_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (pool_id, supplier_id)
);
CREATE INDEX eligibility_admitted ON eligibility (pool_id) WHERE status = 'admitted';
CREATE INDEX eligibility_supplier ON eligibility (supplier_id);

CREATE TABLE rounds (
    id                  uuid PRIMARY KEY,
    pool_id             uuid NOT NULL,
    pool_code           text NOT NULL,
    pool_name           text NOT NULL,
    title               text NOT NULL,
    description         text NOT NULL DEFAULT '',
    buyer_org           text NOT NULL,
    buyer_name          text NOT NULL,
    budget_line         text NOT NULL,
    ceiling_price       numeric(16, 2) NOT NULL,
    opens_at            timestamptz NOT NULL,
    closes_at           timestamptz NOT NULL,
    scheduled_close_at  timestamptz NOT NULL,
    min_bids            integer NOT NULL,
    sme_price_deduction numeric(5, 4) NOT NULL,
    disclosure          text NOT NULL,
    min_decrement       numeric(16, 2),
    ext_window_seconds  integer,
    ext_extend_seconds  integer,
    ext_max_extensions  integer,
    extensions_used     integer NOT NULL DEFAULT 0,
    acceptance_seconds  integer NOT NULL,
    status              text NOT NULL,
    status_reason       text,
    invited_count       integer NOT NULL,
    launched_by         text NOT NULL,
    launched_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    closed_at           timestamptz,
    bid_count           integer,
    bidder_count        integer,
    CONSTRAINT rounds_status CHECK (status IN ('scheduled', 'open', 'closed', 'awarded',
        'failed', 'cancelled', 'accepted', 'reawarded'))
);
CREATE INDEX rounds_due ON rounds (closes_at) WHERE status IN ('scheduled', 'open');
CREATE INDEX rounds_opening ON rounds (opens_at) WHERE status = 'scheduled';
CREATE INDEX rounds_pool ON rounds (pool_id, launched_at DESC);
CREATE INDEX rounds_buyer ON rounds (buyer_org, launched_at DESC);
CREATE INDEX rounds_listing ON rounds (launched_at DESC, id DESC);

-- The invited set, frozen at launch, with each supplier's current (last) bid.
CREATE TABLE invitations (
    round_id        uuid NOT NULL REFERENCES rounds (id),
    supplier_id     uuid NOT NULL,
    name            text NOT NULL,
    credit_code     text NOT NULL,
    kind            text NOT NULL,
    size            text NOT NULL,
    status          text NOT NULL DEFAULT 'invited',
    excluded_reason text,
    excluded_at     timestamptz,
    last_bid_id     uuid,
    last_amount     numeric(16, 2),
    last_bid_at     timestamptz,
    bids_made       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (round_id, supplier_id),
    CONSTRAINT invitations_status CHECK (status IN ('invited', 'excluded'))
);
CREATE INDEX invitations_supplier ON invitations (supplier_id);

CREATE TABLE bids (
    id                 uuid PRIMARY KEY,
    round_id           uuid NOT NULL REFERENCES rounds (id),
    supplier_id        uuid NOT NULL,
    amount             numeric(16, 2) NOT NULL,
    submitted_at       timestamptz NOT NULL,
    valid              boolean NOT NULL DEFAULT true,
    invalidated_reason text
);
CREATE INDEX bids_round_supplier ON bids (round_id, supplier_id, submitted_at);

-- The ranking of valid bidders computed at close (the public result).
CREATE TABLE round_results (
    round_id         uuid NOT NULL REFERENCES rounds (id),
    rank             integer NOT NULL,
    supplier_id      uuid NOT NULL,
    name             text NOT NULL,
    credit_code      text NOT NULL,
    kind             text NOT NULL,
    size             text NOT NULL,
    amount           numeric(16, 2) NOT NULL,
    evaluated_amount numeric(16, 2) NOT NULL,
    final_bid_at     timestamptz NOT NULL,
    PRIMARY KEY (round_id, rank),
    UNIQUE (round_id, supplier_id)
);

CREATE TABLE awards (
    id               uuid PRIMARY KEY,
    round_id         uuid NOT NULL REFERENCES rounds (id),
    pool_id          uuid NOT NULL,
    rank             integer NOT NULL,
    supplier_id      uuid NOT NULL,
    status           text NOT NULL,
    amount           numeric(16, 2) NOT NULL,
    evaluated_amount numeric(16, 2) NOT NULL,
    awarded_at       timestamptz NOT NULL,
    accept_by        timestamptz NOT NULL,
    decided_at       timestamptz,
    decision_reason  text,
    CONSTRAINT awards_status CHECK (status IN ('published', 'accepted', 'declined', 'expired')),
    UNIQUE (round_id, rank)
);
-- At most one live award per round: the database refuses a double award.
CREATE UNIQUE INDEX awards_one_live ON awards (round_id) WHERE status IN ('published', 'accepted');
CREATE INDEX awards_expiring ON awards (accept_by) WHERE status = 'published';
CREATE INDEX awards_listing ON awards (awarded_at DESC, id DESC);

-- Wake round timers when a deadline is created or moved.
CREATE FUNCTION rounds_timer_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('round_timer_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END $$;
CREATE TRIGGER rounds_timer_notify AFTER INSERT OR UPDATE OF closes_at, opens_at ON rounds
    FOR EACH STATEMENT EXECUTE FUNCTION rounds_timer_notify();
CREATE TRIGGER awards_timer_notify AFTER INSERT ON awards
    FOR EACH STATEMENT EXECUTE FUNCTION rounds_timer_notify();
