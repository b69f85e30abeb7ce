-- MOF Order 110's three second-stage methods (spec methods.md): the method of a round,
-- direct selection's justification, cancellation reason codes, the review of abnormally
-- low prices, acceptance windows in working days, enquiry deadlines.
ALTER TABLE rounds
    ADD COLUMN method text NOT NULL DEFAULT 'price_competition',
    ADD COLUMN justification text,
    ADD COLUMN reason_code text,
    ADD COLUMN abnormal_price_review boolean NOT NULL DEFAULT false,
    ADD COLUMN acceptance_working_days integer,
    ADD COLUMN enquiries_until timestamptz,
    ADD CONSTRAINT rounds_method
        CHECK (method IN ('price_competition', 'direct_selection', 'rotation')),
    ADD CONSTRAINT rounds_one_window
        CHECK (acceptance_seconds IS NULL OR acceptance_working_days IS NULL);
ALTER TABLE rounds ALTER COLUMN acceptance_seconds DROP NOT NULL;

-- Awards: held for review (no window yet), cancelled by the center, rejected on review.
ALTER TABLE awards DROP CONSTRAINT awards_status;
ALTER TABLE awards ADD CONSTRAINT awards_status CHECK (status IN ('pending_review',
    'published', 'accepted', 'declined', 'expired', 'cancelled', 'rejected'));
ALTER TABLE awards ALTER COLUMN accept_by DROP NOT NULL;
ALTER TABLE awards
    ADD COLUMN method text NOT NULL DEFAULT 'price_competition',
    ADD COLUMN justification text,
    ADD COLUMN abnormally_low boolean,
    ADD COLUMN rotation_period integer,
    ADD COLUMN reason_code text,
    ADD COLUMN note text;
DROP INDEX awards_one_live;
CREATE UNIQUE INDEX awards_one_live ON awards (round_id)
    WHERE status IN ('pending_review', 'published', 'accepted');
-- Who was served in which rotation period of a pool.
CREATE INDEX awards_rotation ON awards (pool_id, rotation_period)
    WHERE rotation_period IS NOT NULL;

-- The rotation order of each pool: an explicit position (PUT) or, without one, the
-- order of admission (ties by supplier id); `period` is the pool's current period.
CREATE TABLE rotations (
    pool_id uuid PRIMARY KEY,
    period  integer NOT NULL DEFAULT 1
);
CREATE TABLE rotation_members (
    pool_id     uuid NOT NULL,
    supplier_id uuid NOT NULL,
    admitted_at timestamptz NOT NULL,
    position    integer,
    PRIMARY KEY (pool_id, supplier_id)
);
INSERT INTO rotation_members (pool_id, supplier_id, admitted_at)
SELECT pool_id, supplier_id, changed_at FROM eligibility
 WHERE status IN ('admitted', 'suspended');
