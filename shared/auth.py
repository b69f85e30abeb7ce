"""Bearer JWT authentication and the roles of the contract."""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from shared.problems import forbidden, unauthorized


class Role(enum.StrEnum):
    PROCUREMENT_CENTER = "procurement_center"
    BUYER = "buyer"
    SUPPLIER = "supplier"
    FINANCE = "finance"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, role and the supplier or org it acts for."""

    sub: str
    role: Role
    supplier_id: uuid.UUID | None = None
    org: str | None = None

    @property
    def caller_key(self) -> str:
        """A stable per-caller key (idempotency, rate limits)."""
        return f"{self.role.value}:{self.sub}"

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise forbidden(f"role {self.role.value} may not do this")


class TokenVerifier:
    """HS256 with a shared secret by default; RS256/ES256 from a JWKS URL when configured."""

    def __init__(self, secret: str, jwks_url: str | None = None,
                 audience: str | None = None, cache_size: int = 10_000) -> None:
        self._secret = secret
        self._audience = audience
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        # Suppliers' bots send the same token with every bid: a verified token is kept
        # (until its own exp) instead of re-running the signature check each time.
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None:
            principal, expires = hit
            if time.time() < expires:
                return principal
            del self._verified[token]
        principal, expires = await self._verify(token)
        if len(self._verified) >= self._cache_size:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            if self._jwks is not None:
                # PyJWKClient fetches over blocking HTTP (cached): keep it off the loop.
                key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                claims = self._decode(token, key.key, ["RS256", "ES256"])
            else:
                claims = self._decode(token, self._secret, ["HS256"])
        except jwt.ExpiredSignatureError:
            raise unauthorized("the token has expired") from None
        except (jwt.PyJWTError, ValueError):
            raise unauthorized("the token is not valid") from None
        return principal_from_claims(claims), float(claims["exp"])

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        return jwt.decode(
            token, key, algorithms=algorithms, audience=self._audience,
            options={"require": ["exp", "sub", "role"], "verify_aud": self._audience is not None},
        )


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        role = Role(claims["role"])
    except (ValueError, KeyError):
        raise unauthorized("the token's role is not one of the contract") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise unauthorized("the token has no subject")
    supplier_id: uuid.UUID | None = None
    org: str | None = None
    if role is Role.SUPPLIER:
        try:
            supplier_id = uuid.UUID(str(claims["supplier_id"]))
        except (KeyError, ValueError):
            raise unauthorized("a supplier token must carry a supplier_id UUID") from None
    if role is Role.BUYER:
        org = claims.get("org")
        if not isinstance(org, str) or not org:
            raise unauthorized("a buyer token must carry an org")
    return Principal(sub=sub, role=role, supplier_id=supplier_id, org=org)


def mint_token(secret: str, role: Role | str, *, sub: str | None = None,
               supplier_id: uuid.UUID | str | None = None, org: str | None = None,
               ttl_seconds: int = 3600) -> str:
    """An HS256 development token (tests, demos, `procure token`)."""
    role = Role(role)
    claims: dict[str, Any] = {
        "sub": sub or f"{role.value}-{uuid.uuid4().hex[:8]}",
        "role": role.value,
        "iat": int(time.time()),
        "exp": int(time.time()) + ttl_seconds,
    }
    if supplier_id is not None:
        claims["supplier_id"] = str(supplier_id)
    if org is not None:
        claims["org"] = org
    return jwt.encode(claims, secret, algorithm="HS256")


def require_principal(principal: Principal | None, *roles: Role) -> Principal:
    """The caller, who must be authenticated and (if roles are given) hold one of them."""
    if principal is None:
        raise unauthorized()
    if roles:
        principal.require(*roles)
    return principal
