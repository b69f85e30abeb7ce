"""Small helpers shared by the bidding tests."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient


async def launch(client: TestClient, center: dict[str, str], body: dict[str, Any],
                 ) -> dict[str, Any]:
    async with client.post("/v1/rounds", json=body, headers=center) as resp:
        data = await resp.json()
        assert resp.status == 201, data
        assert resp.headers["Location"] == f"/v1/rounds/{data['id']}"
        return dict(data)


async def bid(client: TestClient, headers: dict[str, str], round_id: str, amount: str,
              ) -> tuple[int, dict[str, Any]]:
    async with client.post(f"/v1/rounds/{round_id}/bids", json={"amount": amount},
                           headers=headers) as resp:
        return resp.status, dict(await resp.json())


async def wait_status(client: TestClient, round_id: str, statuses: set[str],
                      headers: dict[str, str], timeout: float = 20) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with client.get(f"/v1/rounds/{round_id}", headers=headers) as resp:
            data = dict(await resp.json())
        if data.get("status") in statuses:
            return data
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"round stayed {data.get('status')}")
        await asyncio.sleep(0.1)


async def refuse_status_changes(db: asyncpg.Connection | asyncpg.Pool, schema: str, table: str,
                                row_id: object, name: str, message: str) -> None:
    """Test-only trigger `name`: any change of this row's status raises `message`, so its
    close or expiry can never commit (as one hitting a statement timeout every time).
    Drop it with `allow_status_changes`."""
    await db.execute(f"""
        CREATE FUNCTION {schema}.{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{message}'; END $$;
        CREATE TRIGGER {name} BEFORE UPDATE ON {schema}.{table} FOR EACH ROW
            WHEN (NEW.id = '{row_id}' AND NEW.status IS DISTINCT FROM OLD.status)
            EXECUTE FUNCTION {schema}.{name}();
    """)


async def allow_status_changes(db: asyncpg.Connection | asyncpg.Pool, schema: str, table: str,
                               name: str) -> None:
    await db.execute(f"DROP TRIGGER {name} ON {schema}.{table}; DROP FUNCTION {schema}.{name}();")


async def audit_trail(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The whole audit trail through GET /v1/audit (center only), in seq order."""
    items: list[dict[str, Any]] = []
    params = {"limit": "200"}
    while True:
        async with client.get("/v1/audit", params=params, headers=headers) as resp:
            page = await resp.json()
        items += page["items"]
        if not page["next_cursor"]:
            return sorted(items, key=lambda e: e["seq"])
        params["cursor"] = page["next_cursor"]
