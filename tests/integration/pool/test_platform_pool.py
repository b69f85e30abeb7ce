"""The pool service's OpenAPI document against docs/http-api.md, and its readiness."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from pool_service.app import build_app
from pool_service.settings import PoolSettings
from shared.auth import Role, mint_token
from tests.jwks import AUDIENCE, ISSUER, serve_idp
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


async def test_the_app_verifies_jwks_tokens_with_issuer_and_audience(
        pool_settings: PoolSettings) -> None:
    """JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE reach the app's verifier: a token signed
    by the IdP's key for this audience passes, one for another audience does not, and a
    development HS256 token is no longer accepted at all."""
    async with serve_idp() as idp:
        settings = pool_settings.model_copy(update={
            "jwt_jwks_url": idp.url, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE})
        assert settings.unsafe_settings() == []
        async with running_app(build_app(settings, run_background=False)) as app:
            rsa_1, ec_1 = idp.keys
            for token, status in ((rsa_1.sign(), 200), (ec_1.sign(), 200),
                                  (rsa_1.sign(aud="another-api"), 401),
                                  (rsa_1.sign(iss="https://evil.test/"), 401),
                                  (mint_token(pool_settings.jwt_secret.get_secret_value(),
                                              Role.PROCUREMENT_CENTER), 401)):
                async with app.get("/v1/audit",  # the center's only
                                   headers={"Authorization": f"Bearer {token}"}) as resp:
                    assert resp.status == status, (resp.status, await resp.text())
