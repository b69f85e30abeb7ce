-- transparency.md, "OCDS 1.1": the service's OCDS releases, written in the transaction of
-- the event each one projects (shared/uow.py). `xid` is that transaction's id: the feed
-- (shared/ocds/store.py) is ordered by (xid, id) and serves only releases of
-- transactions older than the oldest one still in flight, so a release committed late
-- can never land behind a position a reader has already passed.
CREATE TABLE ocds_releases (
    id         bigserial PRIMARY KEY,
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    ocid       text NOT NULL,
    release_id text NOT NULL,
    tag        text NOT NULL,
    released_at timestamptz NOT NULL,
    release    jsonb NOT NULL,
    UNIQUE (ocid, release_id)
);
CREATE INDEX ocds_releases_feed ON ocds_releases (xid, id);
CREATE INDEX ocds_releases_ocid ON ocds_releases (ocid, id);
