"""Bearer JWT authentication and the roles of the contract."""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import structlog

from shared.problems import forbidden, unauthorized

log = structlog.get_logger(__name__)


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


# A verified token is reused for at most this long (never past its own `exp`): a
# revoked signing key or a changed JWKS stops being trusted within 5 minutes.
TOKEN_CACHE_SECONDS = 300.0
# An unknown `kid` makes the key set be fetched again, but no more often than this: a
# flood of tokens with invented kids must not turn into a flood of requests to the IdP.
JWKS_REFETCH_SECONDS = 60.0
# Keys are fetched again after this long even when every kid is known (rotation).
JWKS_MAX_AGE_SECONDS = 3600.0
JWKS_ALGORITHMS = ["RS256", "ES256"]


class JwksKeys:
    """The signing keys published at a JWKS URL, fetched over HTTP when needed."""

    def __init__(self, url: str, *, refetch_seconds: float = JWKS_REFETCH_SECONDS,
                 max_age_seconds: float = JWKS_MAX_AGE_SECONDS, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._clock = clock
        self.fetches = 0
        self._refetch = refetch_seconds
        self._max_age = max_age_seconds
        self._timeout = timeout
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # monotonic time of the last attempt
        self._loaded_at: float | None = None  # monotonic time of the last success
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key `kid` names (a token without a kid: the set's only key)."""
        if self._fresh() and (found := self._find(kid)) is not None:
            return found
        async with self._lock:
            if not (self._fresh() and self._find(kid) is not None) and self._may_fetch():
                await self._fetch()
        found = self._find(kid)
        if found is None:
            raise unauthorized("the token's signing key is not known")
        return found

    def _fresh(self) -> bool:
        return self._loaded_at is not None and \
            self._clock() - self._loaded_at < self._max_age

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._refetch

    async def _fetch(self) -> None:
        self._fetched_at = self._clock()
        self.fetches += 1
        try:
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            async with aiohttp.ClientSession(timeout=timeout) as http, \
                    http.get(self.url, raise_for_status=True) as resp:
                document = await resp.json(content_type=None)
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError) as exc:
            # Keep the keys we had; a failed fetch may be retried sooner than a good one.
            self._fetched_at -= max(0.0, self._refetch - 5.0)
            log.warning("jwks_fetch_failed", url=self.url, error=type(exc).__name__)
            return
        self._keys = {k.key_id: k for k in keys
                      if k.public_key_use in (None, "sig")}
        self._loaded_at = self._clock()
        log.info("jwks_fetched", url=self.url, kids=sorted(str(k) for k in self._keys))


class TokenVerifier:
    """HS256 with a shared secret by default; RS256/ES256 from a JWKS URL when configured
    (then `iss` and `aud` must match the configured issuer and audience)."""

    def __init__(self, secret: str, jwks_url: str | None = None,
                 audience: str | None = None, issuer: str | None = None,
                 cache_size: int = 10_000,
                 cache_seconds: float = TOKEN_CACHE_SECONDS) -> None:
        if jwks_url and not (audience and issuer):
            raise ValueError("JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE")
        self._secret = secret
        self._audience = audience
        self._issuer = issuer
        self.jwks = JwksKeys(jwks_url) if jwks_url else None
        # Suppliers' bots send the same token with every bid: a verified token is kept
        # (until its own exp, 5 minutes at most) instead of re-checking the signature.
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds

    async def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None:
            principal, expires = hit
            if time.time() < expires:
                return principal
            del self._verified[token]
        principal, exp = await self._verify(token)
        if len(self._verified) >= self._cache_size:
            self._verified.clear()
        self._verified[token] = (principal, min(exp, time.time() + self._cache_seconds))
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            if self.jwks is not None:
                kid = jwt.get_unverified_header(token).get("kid")
                key = await self.jwks.key(kid if isinstance(kid, str) else None)
                claims = self._decode(token, key.key, JWKS_ALGORITHMS)
            else:
                claims = self._decode(token, self._secret, ["HS256"])
        except jwt.ExpiredSignatureError:
            raise unauthorized("the token has expired") from None
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError):
            raise unauthorized("the token was issued by or for someone else") from None
        except (jwt.PyJWTError, ValueError):
            raise unauthorized("the token is not valid") from None
        return principal_from_claims(claims), float(claims["exp"])

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        required = ["exp", "sub", "role"]
        required += ["iss"] if self._issuer is not None else []
        required += ["aud"] if self._audience is not None else []
        return jwt.decode(
            token, key, algorithms=algorithms, audience=self._audience, issuer=self._issuer,
            options={"require": required, "verify_aud": self._audience is not None},
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
