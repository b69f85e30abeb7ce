"""The services' HTTP API as `procure` uses it: like any outside client, with dev tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from procure.errors import START_SERVICES_HINT, ApiError, Unreachable
from procure.settings import ProcureSettings
from shared.auth import Role, mint_token

Json = dict[str, Any]
_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)


class Tokens:
    """Dev HS256 tokens for the roles `procure` acts in, minted once per subject."""

    def __init__(self, secret: str, ttl_seconds: int = 4 * 3600) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, str], str] = {}

    def center(self) -> str:
        return self._get(Role.PROCUREMENT_CENTER, "procure-cli")

    def supplier(self, supplier_id: str | uuid.UUID) -> str:
        return self._get(Role.SUPPLIER, str(supplier_id))

    def _get(self, role: Role, subject: str) -> str:
        key = (role.value, subject)
        if key not in self._cache:
            extra: dict[str, Any] = {}
            if role is Role.SUPPLIER:
                extra["supplier_id"] = subject
                subject = f"supplier-{subject}"
            self._cache[key] = mint_token(self._secret, role, sub=subject,
                                          ttl_seconds=self._ttl, **extra)
        return self._cache[key]


class ServiceClient:
    """One service's base URL; answers are JSON objects, errors are `ApiError`."""

    def __init__(self, session: aiohttp.ClientSession, name: str, base_url: str,
                 module: str) -> None:
        self._session = session
        self.name = name
        self.base_url = base_url
        self.module = module

    async def request(self, method: str, path: str, *, token: str | None = None,
                      json: Any = None, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None) -> Json:
        """Send one request; a 429 is retried after the time the service asks for."""
        url = self.base_url + path
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        for attempt in range(4):
            try:
                async with self._session.request(method, url, json=json, params=params,
                                                 headers=all_headers) as resp:
                    if resp.status == 429 and attempt < 3:
                        await asyncio.sleep(_retry_after(resp.headers.get("Retry-After")))
                        continue
                    return await self._answer(method, url, resp)
            except aiohttp.ClientConnectionError as exc:
                raise self.unreachable(exc) from None
            except TimeoutError:
                raise self.unreachable(TimeoutError("no answer within 30 s")) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _answer(self, method: str, url: str, resp: aiohttp.ClientResponse) -> Json:
        text = await resp.text()
        body: Any = None
        if text:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
        if resp.status >= 400:
            raise ApiError(self.name, method, url, resp.status,
                           body if isinstance(body, dict) else None, text)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ApiError(self.name, method, url, resp.status, None,
                           "the answer is not a JSON object")
        return body

    def unreachable(self, exc: BaseException) -> Unreachable:
        reason = _reason(exc)
        return Unreachable(f"the {self.name}", self.base_url, reason,
                           f"is it running? {START_SERVICES_HINT}")

    async def get(self, path: str, **kw: Any) -> Json:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Json:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Json:
        return await self.request("PUT", path, **kw)

    async def ready(self) -> bool:
        """True when GET /readyz answers 200 (database and broker reachable)."""
        try:
            async with self._session.get(self.base_url + "/readyz",
                                         timeout=aiohttp.ClientTimeout(total=3)) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def pages(self, path: str, *, token: str | None = None,
                    params: Mapping[str, str] | None = None) -> AsyncIterator[Json]:
        """Every item of a paged list, following `next_cursor`."""
        query = {**(params or {}), "limit": "200"}
        while True:
            page = await self.get(path, token=token, params=query)
            for item in page.get("items", []):
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor


class Services:
    """Both services, sharing one HTTP session and one token minter."""

    def __init__(self, session: aiohttp.ClientSession, settings: ProcureSettings) -> None:
        self.settings = settings
        self.tokens = Tokens(settings.jwt_secret.get_secret_value())
        self.pool = ServiceClient(session, "pool service", settings.pool_url, "pool_service")
        self.bidding = ServiceClient(session, "bidding service", settings.bidding_url,
                                     "bidding_service")

    async def find_pool(self, code_or_id: str) -> Json:
        """A pool by its UUID or its code (GET /v1/pools is public)."""
        try:
            pool_id = uuid.UUID(code_or_id)
        except ValueError:
            pass
        else:
            return await self.pool.get(f"/v1/pools/{pool_id}")
        async for pool in self.pool.pages("/v1/pools"):
            if pool.get("code") == code_or_id:
                return pool
        raise ApiError(self.pool.name, "GET", self.pool.base_url + "/v1/pools", 404,
                       {"title": "Not found",
                        "detail": f"no pool has the code {code_or_id!r} "
                                  "(`procure pools list` shows the codes)"})


@asynccontextmanager
async def services(settings: ProcureSettings) -> AsyncIterator[Services]:
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        yield Services(session, settings)


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.1), 5.0)
    except ValueError:
        return 1.0


def _reason(exc: BaseException) -> str:
    cause = exc
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, BaseException):
        cause = os_error
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
