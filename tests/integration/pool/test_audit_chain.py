"""The pool service's audit trail is a hash chain (trust.md section 6): concurrent
writers still give one gapless chain, whose head is public and which `procure audit
verify` walks through the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from pool_service.settings import PoolSettings
from procure.client import ServiceClient
from procure.verify import verify_audit
from shared.auth import Role, mint_token

Make = Callable[..., Any]


async def test_concurrent_changes_chain_without_gaps_and_tampering_is_named(
        client: TestClient, pool_settings: PoolSettings, make_pool: Make,
        make_supplier: Make) -> None:
    pool = await make_pool()
    suppliers = await asyncio.gather(*(make_supplier() for _ in range(8)))
    answers = await asyncio.gather(*(client.post(
        f"/v1/pools/{pool['id']}/members", json={"supplier_id": s["id"]},
        headers={"Authorization": "Bearer " + mint_token(
            pool_settings.jwt_secret.get_secret_value(), Role.PROCUREMENT_CENTER)})
        for s in suppliers))
    assert all(a.status == 201 for a in answers)
    head = await (await client.get("/v1/audit/head")).json()  # public
    token = mint_token(pool_settings.jwt_secret.get_secret_value(), Role.PROCUREMENT_CENTER)
    async with aiohttp.ClientSession() as http:
        service = ServiceClient(http, "pool service", str(client.make_url("")).rstrip("/"),
                                "pool_service")
        verdict = await verify_audit(service, token)
        assert verdict.code == 0, verdict.lines
        # (Background consumers may append after the head was read, never before.)
        walked = int(verdict.lines[0].split("head seq ")[1].split()[0])
        assert verdict.lines[0].startswith("OK: ") and walked >= head["seq"] >= 9
        conn = await asyncpg.connect(pool_settings.database_url,
                                     server_settings={"search_path": pool_settings.db_schema})
        try:
            seq = await conn.fetchval("SELECT max(seq) - 3 FROM audit_log")
            # The append-only trigger refuses a quiet edit...
            try:
                await conn.execute("UPDATE audit_log SET actor = 'x' WHERE seq = $1", seq)
            except asyncpg.RaiseError:
                pass
            else:
                raise AssertionError("audit_log accepted an UPDATE")
            # ...and an operator who disables it is caught by the chain.
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            original = await conn.fetchval("SELECT actor FROM audit_log WHERE seq = $1", seq)
            try:
                await conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = $1",
                                   seq)
                verdict = await verify_audit(service, token)
                assert verdict.code == 4
                assert verdict.lines[0].startswith(f"BROKEN at entry {seq} ")
            finally:
                await conn.execute("UPDATE audit_log SET actor = $2 WHERE seq = $1", seq,
                                   original)
                await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
            assert (await verify_audit(service, token)).code == 0
        finally:
            await conn.close()
