-- Bids of the anti-sniping path carry their actor too (the close derives every bid's
-- audit entry from the row); audit_held keeps only entries written before 0015/0016,
-- read and emptied by the close of their round.
COMMENT ON TABLE audit_held IS
    'bid audit entries written before bids carried their actor (migrations 0015, 0016)';
