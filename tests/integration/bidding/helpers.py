"""Small helpers shared by the bidding tests."""

from __future__ import annotations

import asyncio
from typing import Any

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
