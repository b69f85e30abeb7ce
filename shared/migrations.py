"""Numbered SQL migrations per service schema, applied once under an advisory lock.

The shared tables (outbox, inbox, idempotency keys, audit trail) are migrations of
this package, applied into each service's own schema before the service's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str

    @property
    def key(self) -> str:
        return f"{self.namespace}:{self.version:04d}"


def load_migrations(namespace: str, directory: Path) -> list[Migration]:
    """The numbered files of `directory`, in order; refuses duplicate numbers."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name not of the form NNNN_name.sql: {path}")
        found.append(Migration(namespace, int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or any(v < 1 for v in versions):
        # Numbers are handed out to parallel branches, so one may be absent for a while.
        raise ValueError(f"migrations of {namespace} must have distinct numbers from 1")
    return found


async def migrate(dsn: str, schema: str, service_dir: Path, namespace: str) -> list[str]:
    """Apply pending migrations into `schema`; returns the keys applied now."""
    plan = load_migrations("shared", SHARED_MIGRATIONS) + load_migrations(namespace, service_dir)
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        # One migrator per schema at a time, whichever process or replica runs it.
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"migrate:{schema}")
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET search_path TO "{schema}"')
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " key text PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["key"] for r in await conn.fetch("SELECT key FROM schema_migrations")}
            for migration in plan:
                if migration.key in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (key, name) VALUES ($1, $2)",
                        migration.key, migration.name)
                applied_now.append(migration.key)
                log.info("migration_applied", schema=schema, migration=migration.key)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{schema}")
    finally:
        await conn.close()
    return applied_now
