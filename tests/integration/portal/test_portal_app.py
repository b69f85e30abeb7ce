"""The portal in-process over real HTTP: health, readiness, and services that cannot be
reached make a 503 page, never a 500; unknown ids are 404 pages."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from portal.app import build_app
from portal.settings import PortalSettings
from tests.support import free_port, running_app


async def test_without_the_services_pages_are_503_and_never_500(
        service_env: dict[str, str]) -> None:
    settings = PortalSettings(pool_service_url=f"http://127.0.0.1:{free_port()}",
                              bidding_service_url=f"http://127.0.0.1:{free_port()}",
                              amqp_url=service_env["AMQP_URL"],
                              events_exchange=service_env["EVENTS_EXCHANGE"],
                              request_timeout_seconds=2)
    client: TestClient
    async with running_app(build_app(settings)) as client:
        async with client.get("/healthz") as resp:
            assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
        async with client.get("/readyz") as resp:
            body = await resp.json()
            assert resp.status == 503
            assert body["checks"]["pool_service"] is False
            assert body["checks"]["bidding_service"] is False
        for path in ("/", "/pools", "/awards", "/pools/x",
                     "/rounds/6a1b0c0e-0000-4000-8000-000000000001"):
            async with client.get(path) as resp:
                text = await resp.text()
                assert resp.status == 503, path
                assert resp.headers["Content-Type"].startswith("text/html")
                assert text.count("<h1>") == 1 and 'lang="zh-CN"' in text
        async with client.get("/rounds/not-a-uuid?lang=en") as resp:
            assert resp.status == 404 and 'lang="en"' in await resp.text()
        async with client.get("/rounds/not-a-uuid/events") as resp:
            assert resp.status == 404
        async with client.get("/ocds") as resp:
            page = await resp.text()
            assert resp.status == 200
            assert f"{settings.pool_service_url}/ocds/release-packages" in page
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        async with client.get("/static/live.js") as resp:
            assert resp.status == 200
