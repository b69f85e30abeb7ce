-- A round's bid audit entries (trust.md 6: `bid.submitted` by its supplier at its
-- `submitted_at`, no details), made from its bids in Merkle order (by submitted_at, then
-- by id, the order of the uuid's bytes) for shared migration 0005's `audit_append`: the
-- close appends them without reading them into the service. `pre`, `mid` and `after` are
-- the entry's canonical JSON around its `at` and `seq`, byte for byte what
-- `shared.audit_append.prepare` writes (tests/integration/bidding/test_bid_audit_entries.py).
-- Bids without an actor are older than migration 0015: their entries are in audit_held.
CREATE FUNCTION bid_audit_entries(p_round uuid)
RETURNS TABLE (at timestamptz, actor text, actor_role text, action text, subject text,
               details text, pre text, mid text, after text)
LANGUAGE sql STABLE AS $$
    SELECT b.submitted_at, b.actor, 'supplier', 'bid.submitted', s.subject, '{}',
           '{"action":"bid.submitted","actor":' || to_json(b.actor)::text
               || ',"actor_role":"supplier","at":"',
           '","details":{},"seq":',
           ',"subject":' || to_json(s.subject)::text || '}'
      FROM bids b
     CROSS JOIN LATERAL (SELECT '/v1/rounds/' || p_round::text || '/bids/' || b.id::text
                                AS subject) s
     WHERE b.round_id = p_round AND b.actor IS NOT NULL
     ORDER BY b.submitted_at, b.id
$$;
