"""Reads the two services' public APIs (no token: what anyone may read)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson


class Unavailable(Exception):
    """A service could not be reached or answered with a server error."""


class Services:
    """One keep-alive HTTP session for both services."""

    def __init__(self, pool_url: str, bidding_url: str, timeout: float) -> None:
        self.pool_url = pool_url.rstrip("/")
        self.bidding_url = bidding_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, json_serialize=lambda v: orjson.dumps(v).decode(),
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _get(self, base: str, path: str, params: dict[str, str] | None,
                   ) -> tuple[int, Any]:
        assert self._session is not None, "Services.start() first"
        try:
            async with self._session.get(base + path, params=params) as resp:
                if resp.status >= 500:
                    raise Unavailable(f"{base}{path}: {resp.status}")
                return resp.status, orjson.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise Unavailable(f"{base}{path}: {exc!r}") from exc

    async def pool(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        return await self._get(self.pool_url, path, params)

    async def bidding(self, path: str, params: dict[str, str] | None = None,
                      ) -> tuple[int, Any]:
        return await self._get(self.bidding_url, path, params)

    async def healthy(self, base: str) -> bool:
        try:
            status, _ = await self._get(base, "/healthz", None)
        except Unavailable:
            return False
        return status == 200
