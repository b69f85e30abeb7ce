-- Transactional outbox: written in the same transaction as the change it describes.
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    type         text NOT NULL,
    subject      text NOT NULL,
    envelope     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
-- The relay looks only at what is still unsent, so this index stays small.
CREATE INDEX outbox_unsent ON outbox (seq) WHERE published_at IS NULL;

-- Wake the relay as soon as an event commits (NOTIFY is delivered at commit).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Idempotent inbox: an event id is handled once, in the transaction of its effect.
CREATE TABLE inbox (
    event_id    uuid PRIMARY KEY,
    type        text NOT NULL,
    source      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Idempotency-Key: the first answer, kept per caller and key.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer NOT NULL,
    body         jsonb NOT NULL,
    location     text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (caller, key)
);

-- Append-only audit trail of every state change: who, what, when.
CREATE TABLE audit_log (
    seq        bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor      text NOT NULL,
    actor_role text NOT NULL,
    action     text NOT NULL,
    subject    text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
