-- finance.md: a round launched with BUDGET_RESERVATION=required waits in
-- `pending_budget` for finance's answer to its budget reservation.
ALTER TABLE rounds DROP CONSTRAINT rounds_status;
ALTER TABLE rounds ADD CONSTRAINT rounds_status CHECK (status IN ('pending_budget',
    'scheduled', 'open', 'awarded', 'failed', 'cancelled', 'accepted', 'reawarded'));

-- One reservation per round launched with BUDGET_RESERVATION=required (none with off:
-- the round's `budget` is null). Amounts as finance reported them; at rest
-- reserved_amount = committed_amount + released_amount.
CREATE TABLE budget_reservations (
    id                      uuid PRIMARY KEY,
    round_id                uuid NOT NULL UNIQUE REFERENCES rounds (id),
    budget_line             text NOT NULL,
    amount                  numeric(16, 2) NOT NULL,
    currency                text NOT NULL DEFAULT 'CNY',
    status                  text NOT NULL DEFAULT 'requested',
    reason                  text,
    reserved_amount         numeric(16, 2),
    committed_amount        numeric(16, 2),
    released_amount         numeric(16, 2),
    requested_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The durable deadline of finance's answer (database clock), like a round's close.
    reply_by                timestamptz NOT NULL,
    answered_at             timestamptz,
    -- The award whose commit was requested last (a corrected award replaces it).
    commit_award_id         uuid,
    commit_requested_at     timestamptz,
    -- The award finance's last `budget.committed` was for.
    committed_award_id      uuid,
    -- Exactly one release request per reservation: set once, never cleared.
    release_requested_at    timestamptz,
    release_reason          text,
    release_amount          numeric(16, 2),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The timer's failure record of a timeout that failed (as for closes and expiries).
    timeout_attempts        integer NOT NULL DEFAULT 0,
    last_timeout_error      text,
    next_timeout_attempt_at timestamptz,
    CONSTRAINT budget_status CHECK (status IN ('requested', 'reserved', 'refused',
        'timed_out', 'committed', 'released'))
);
CREATE INDEX budget_reservations_waiting ON budget_reservations (reply_by)
    WHERE status = 'requested';
CREATE INDEX budget_reservations_listing ON budget_reservations (requested_at DESC, id DESC);
CREATE INDEX budget_reservations_line ON budget_reservations (budget_line, requested_at DESC);

-- A new reply deadline wakes the round timers.
CREATE TRIGGER budget_timer_notify AFTER INSERT ON budget_reservations
    FOR EACH STATEMENT EXECUTE FUNCTION rounds_timer_notify();
