"""An identity provider for tests: RS256/ES256 keys published as a JWKS over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://idp.test/realms/procurement"
AUDIENCE = "procurement-api"


@dataclass
class KeyPair:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.get_default_algorithms()[self.alg]
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, *, kid: str | None = "self", ttl: int = 600, **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": "center-1", "role": "procurement_center", "iss": ISSUER,
                "aud": AUDIENCE, "iat": now, "exp": now + ttl, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        headers = {} if kid is None else {"kid": self.kid if kid == "self" else kid}
        return jwt.encode(body, self.private, algorithm=self.alg, headers=headers)


def rsa_key(kid: str) -> KeyPair:
    return KeyPair(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> KeyPair:
    return KeyPair(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class Idp:
    """An identity provider's JWKS endpoint: the keys it publishes, and how often asked."""

    server: TestServer
    keys: list[KeyPair] = field(default_factory=list)
    hits: int = 0

    @property
    def url(self) -> str:
        return str(self.server.make_url("/jwks.json"))


@asynccontextmanager
async def serve_idp() -> AsyncIterator[Idp]:
    """A JWKS endpoint on a real socket, publishing an RS256 and an ES256 key."""
    app = web.Application()
    holder: list[Idp] = []

    async def jwks(_request: web.Request) -> web.Response:
        holder[0].hits += 1
        return web.json_response({"keys": [k.jwk() for k in holder[0].keys]})

    app.router.add_get("/jwks.json", jwks)
    server = TestServer(app)
    await server.start_server()
    holder.append(Idp(server, [rsa_key("rsa-1"), ec_key("ec-1")]))
    try:
        yield holder[0]
    finally:
        await server.close()
