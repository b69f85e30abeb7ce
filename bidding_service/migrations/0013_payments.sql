-- finance.md 5: payments finance reports on an accepted award (payment.recorded).
CREATE TABLE award_payments (
    payment_id  text PRIMARY KEY,
    award_id    uuid NOT NULL REFERENCES awards (id),
    round_id    uuid NOT NULL,
    amount      numeric(16, 2) NOT NULL,
    paid_at     timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX award_payments_award ON award_payments (award_id, paid_at);
