-- Pool service schema: suppliers, pools, memberships with their full history,
-- the award history learnt from the bidding service, and buyers' ratings.
-- Records are kept for 15 years: nothing here is ever deleted.

CREATE TABLE suppliers (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 300),
    credit_code text NOT NULL CHECK (credit_code ~ '^[0-9A-HJ-NP-RTUW-Y]{18}$'),
    kind        text NOT NULL
                CHECK (kind IN ('enterprise', 'social_organization', 'public_institution')),
    size        text NOT NULL CHECK (size IN ('large', 'medium', 'small', 'micro')),
    contact     jsonb,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT suppliers_credit_code_key UNIQUE (credit_code)
);
CREATE INDEX suppliers_listing ON suppliers (name, id);

CREATE TABLE pools (
    id                  uuid PRIMARY KEY,
    code                text NOT NULL CHECK (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$'
                                             AND length(code) <= 80),
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    category            text NOT NULL CHECK (category IN ('public_service', 'government_support')),
    jurisdiction        text NOT NULL CHECK (length(btrim(jurisdiction)) BETWEEN 1 AND 100),
    description         text,
    valid_from          date NOT NULL,
    valid_to            date NOT NULL,
    price_ceiling       numeric(16, 2) NOT NULL CHECK (price_ceiling > 0),
    max_round_budget    numeric(16, 2) NOT NULL CHECK (max_round_budget > 0),
    terminated_at       timestamptz,
    termination_reason  text,
    admitted_count      integer NOT NULL DEFAULT 0 CHECK (admitted_count >= 0),
    peak_admitted_count integer NOT NULL DEFAULT 0,
    version             integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT pools_code_key UNIQUE (code),
    CONSTRAINT pools_validity CHECK (valid_to > valid_from
                                     AND valid_to < valid_from + interval '2 years'),
    CONSTRAINT pools_termination CHECK ((terminated_at IS NULL) = (termination_reason IS NULL)),
    CONSTRAINT pools_peak CHECK (peak_admitted_count >= admitted_count)
);
CREATE INDEX pools_category ON pools (category, code);
CREATE INDEX pools_jurisdiction ON pools (jurisdiction, code);

CREATE TABLE memberships (
    id          uuid PRIMARY KEY,
    pool_id     uuid NOT NULL REFERENCES pools (id),
    supplier_id uuid NOT NULL REFERENCES suppliers (id),
    status      text NOT NULL
                CHECK (status IN ('applied', 'admitted', 'rejected', 'suspended', 'removed')),
    since       timestamptz NOT NULL,
    reason      text,
    ground      text CHECK (ground IN ('collusion', 'false_documents', 'refused_award',
                                       'debarred', 'poor_performance', 'other')),
    until       timestamptz,
    version     integer NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT memberships_pool_supplier_key UNIQUE (pool_id, supplier_id),
    CONSTRAINT memberships_until CHECK (until IS NULL OR status = 'suspended'),
    CONSTRAINT memberships_ground CHECK ((ground IS NOT NULL) = (status = 'removed'))
);
CREATE INDEX memberships_supplier ON memberships (supplier_id);
-- The suspension sweeper looks only at timed suspensions.
CREATE INDEX memberships_suspension_due ON memberships (until)
    WHERE status = 'suspended' AND until IS NOT NULL;

-- Every transition: who, when, from, to, why. Version n is the n-th transition.
CREATE TABLE membership_history (
    membership_id uuid NOT NULL REFERENCES memberships (id),
    version       integer NOT NULL CHECK (version >= 1),
    pool_id       uuid NOT NULL,
    supplier_id   uuid NOT NULL,
    action        text NOT NULL CHECK (action IN ('applied', 'admitted', 'rejected',
                                                  'suspended', 'reinstated', 'removed')),
    from_status   text,
    to_status     text NOT NULL,
    reason        text,
    ground        text,
    until         timestamptz,
    actor         text NOT NULL,
    actor_role    text NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (membership_id, version)
);
CREATE INDEX membership_history_pool_supplier ON membership_history (pool_id, supplier_id, version);

CREATE FUNCTION membership_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'membership_history is append-only';
END $$;
CREATE TRIGGER membership_history_append_only BEFORE UPDATE OR DELETE ON membership_history
    FOR EACH ROW EXECUTE FUNCTION membership_history_append_only();

-- Awards as the bidding service announced them (award.* events). An award.declined may
-- overtake its award.published, so everything but the ids may arrive later.
CREATE TABLE awards (
    id          uuid PRIMARY KEY,
    round_id    uuid NOT NULL,
    supplier_id uuid NOT NULL,
    pool_id     uuid,
    buyer_org   text,
    buyer_name  text,
    amount      numeric(16, 2),
    currency    text,
    awarded_at  timestamptz,
    status      text NOT NULL CHECK (status IN ('published', 'accepted', 'declined', 'expired')),
    status_at   timestamptz,
    reason      text,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX awards_member ON awards (pool_id, supplier_id, awarded_at);

-- 履约评价: one rating per award, by the buyer of that award.
CREATE TABLE ratings (
    id          uuid PRIMARY KEY,
    award_id    uuid NOT NULL REFERENCES awards (id),
    pool_id     uuid NOT NULL REFERENCES pools (id),
    supplier_id uuid NOT NULL REFERENCES suppliers (id),
    buyer_org   text NOT NULL,
    rated_by    text NOT NULL,
    score       smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT ratings_award_key UNIQUE (award_id)
);
CREATE INDEX ratings_member ON ratings (pool_id, supplier_id, created_at);
