-- The chain's entries numbered and hashed in the database (trust.md section 6), for the
-- one statement that appends them (`shared.audit_append.append`): this function locks
-- the head row and yields the entries with their seq, content_hash and hash; the
-- statement writes them, stamps the last one's (seq, hash) into the events that carry it
-- and makes it the head. The lock is taken by the statement that needs it and never
-- waits for the service between two statements.
--
-- An entry comes with its canonical JSON prepared around its `at` and its `seq`
-- (`pre` || at || `mid` || seq || `after`); `at` NULL takes this append's clock. A run
-- of entries can also come from a set-returning function of the schema (`p_source`,
-- called with `p_source_arg`, yielding the columns of the inline entries in order):
-- the close's bid entries are made from the bids there, never sent back and forth.
-- `at` is written as `shared.audit_chain.format_at` writes it (UTC, six fractional
-- digits, `+00:00`).
CREATE FUNCTION audit_chain_entries(
    p_at timestamptz[], p_actor text[], p_role text[], p_action text[], p_subject text[],
    p_details text[], p_pre text[], p_mid text[], p_after text[],
    p_source text[], p_source_arg uuid[])
RETURNS TABLE (seq bigint, at timestamptz, actor text, actor_role text, action text,
               subject text, details text, content_hash text, hash text)
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(cardinality(p_actor), 0);
    i int := 1;
    j int;
    now timestamptz;
    s bigint;
    prev text;
    q text;
    r record;
BEGIN
    SELECT h.seq, h.hash INTO s, prev FROM audit_head h FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'shared migration 0003 creates the audit head';
    END IF;
    now := clock_timestamp();
    WHILE i <= n LOOP
        j := i;
        IF p_source[i] IS NOT NULL THEN
            q := format('%I($1)', p_source[i]);
        ELSE
            WHILE j < n AND p_source[j + 1] IS NULL LOOP
                j := j + 1;
            END LOOP;
            q := 'unnest($2, $3, $4, $5, $6, $7, $8, $9, $10)';
        END IF;
        FOR r IN EXECUTE 'SELECT * FROM ' || q || ' AS x (at, actor, actor_role, action,'
                ' subject, details, pre, mid, after)'
                USING p_source_arg[i], p_at[i:j], p_actor[i:j], p_role[i:j], p_action[i:j],
                      p_subject[i:j], p_details[i:j], p_pre[i:j], p_mid[i:j], p_after[i:j]
        LOOP
            s := s + 1;
            seq := s;
            at := coalesce(r.at, now);
            actor := r.actor;
            actor_role := r.actor_role;
            action := r.action;
            subject := r.subject;
            details := r.details;
            content_hash := encode(sha256(convert_to(
                r.pre || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
                || r.mid || s::text || r.after, 'UTF8')), 'hex');
            prev := encode(sha256(convert_to(prev || content_hash, 'UTF8')), 'hex');
            hash := prev;
            RETURN NEXT;
        END LOOP;
        i := j + 1;
    END LOOP;
END $$;
