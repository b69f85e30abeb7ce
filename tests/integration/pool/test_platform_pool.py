"""The pool service's OpenAPI document against docs/http-api.md, and its readiness."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from pool_service.app import build_app
from pool_service.settings import PoolSettings
from tests.support import TcpProxy, document_paths, documented_paths, running_app, wait_ready


async def test_openapi_lists_every_documented_endpoint(client: TestClient) -> None:
    async with client.get("/openapi.json") as resp:
        doc = await resp.json()
    validate(doc)
    # The served document and docs/http-api.md name the same endpoints.
    assert document_paths(doc) == documented_paths("Pool service")


async def test_readyz_follows_the_database_without_restart(pool_settings: PoolSettings) -> None:
    proxy = await TcpProxy("127.0.0.1", 5432).start()
    url = re.sub(r"@[^/]+/", f"@127.0.0.1:{proxy.port}/", pool_settings.database_url)
    settings = pool_settings.model_copy(update={"database_url": url})
    async with running_app(build_app(settings, run_background=False)) as app:
        await wait_ready(app, 200)
        await proxy.cut()
        assert (await wait_ready(app, 503))["checks"]["database"] is False
        await proxy.restore()
        await wait_ready(app, 200)
    await proxy.cut()
