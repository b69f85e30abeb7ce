"""OCDS 1.1 open data (transparency.md, "OCDS 1.1"): each service's releases are a
projection of its own events, written in the event's transaction.

- `releases`: pure builders of release JSON (ocids, values, periods, parties).
- `packages`: release and record packages, the compiled release (ocdsmerge).
- `store`: the `ocds_releases` table and the feed's commit-safe paging.
- `projection`: the unit of work's release writer for one service's event mapper.
- `api`: `GET /ocds/release-packages` and `GET /ocds/records/{ocid}`.
"""
