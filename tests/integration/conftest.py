"""Integration suite-wide checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from shared.ocds.releases import loads
from tests.ocds_schema import problems


def amounts_in(value: Any) -> list[Decimal]:
    """Every `amount` anywhere in a release."""
    if isinstance(value, dict):
        found = [Decimal(value["amount"])] if "amount" in value and \
            isinstance(value["amount"], Decimal | int) else []
        return found + [a for v in value.values() for a in amounts_in(v)]
    if isinstance(value, list):
        return [a for v in value for a in amounts_in(v)]
    return []


@pytest.fixture(scope="session", autouse=True)
async def _every_ocds_release_validates(database_url: str) -> AsyncIterator[None]:
    """After the suite: every OCDS release either service wrote in this session's
    database validates against the OCDS 1.1.5 release schema with the techniques
    extension, and a round's releases carry no amount but its ceiling and its awards'
    (never a bid amount)."""
    yield
    conn = await asyncpg.connect(database_url)
    try:
        schemas = [r["table_schema"] for r in await conn.fetch(
            "SELECT table_schema FROM information_schema.tables"
            " WHERE table_name = 'ocds_releases'")]
        invalid: list[str] = []
        leaked: list[str] = []
        count = 0
        for schema in schemas:
            rounds = await conn.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", f'"{schema}".awards')
            for row in await conn.fetch(
                    f'SELECT ocid, release::text AS body FROM "{schema}".ocds_releases'):
                count += 1
                release = loads(row["body"])
                invalid += [f"{schema} {row['ocid']} {release['id']}: {p}"
                            for p in problems("release", release)]
                if rounds and "-round-" in row["ocid"]:
                    round_id = row["ocid"].rsplit("-round-", 1)[1]
                    allowed = {a for a in await conn.fetch(
                        f'SELECT ceiling_price AS a FROM "{schema}".rounds WHERE id::text = $1'
                        f' UNION SELECT amount FROM "{schema}".awards'
                        " WHERE round_id::text = $1", round_id)}
                    allowed_amounts = {r["a"] for r in allowed}
                    leaked += [f"{row['ocid']}: {a}" for a in amounts_in(release)
                               if a not in allowed_amounts]
    finally:
        await conn.close()
    assert count > 0 or not schemas, "no release was written"
    assert not invalid, f"{len(invalid)} OCDS release problems: {invalid[:20]}"
    assert not leaked, f"amounts other than ceilings and awards in releases: {leaked[:20]}"
