"""trust.md 1, JWKS mode: tokens signed with RS256/ES256 keys published at a JWKS URL
(served here over real HTTP by an aiohttp server), issuer and audience enforced, an
unknown kid refetching the key set at most once a minute, verified tokens cached for
5 minutes at most."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import jwt
import pytest

from shared.auth import JwksKeys, TokenVerifier
from shared.problems import Problem
from tests.jwks import AUDIENCE, ISSUER, Idp, ec_key, rsa_key, serve_idp


@pytest.fixture
async def idp() -> AsyncIterator[Idp]:
    async with serve_idp() as idp:
        yield idp


class Clock:
    """A monotonic clock the test moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(idp: Idp, clock: Clock | None = None) -> TokenVerifier:
    v = TokenVerifier("unused-hs256-secret-0123456789abcdef", idp.url, AUDIENCE, ISSUER)
    if clock is not None:
        v.jwks = JwksKeys(idp.url, clock=clock)
    return v


async def refused(v: TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as info:
        await v.verify(token)
    assert info.value.status == 401
    return info.value


async def test_rs256_and_es256_tokens_from_the_jwks_are_accepted(idp: Idp) -> None:
    v = verifier(idp)
    rsa_1, ec_1 = idp.keys
    supplier = uuid.uuid4()
    p = await v.verify(rsa_1.sign(role="supplier", supplier_id=str(supplier), sub="bot"))
    assert (p.role.value, p.supplier_id, p.sub) == ("supplier", supplier, "bot")
    assert (await v.verify(ec_1.sign())).role.value == "procurement_center"
    assert idp.hits == 1  # one fetch served both keys


async def test_issuer_and_audience_must_match(idp: Idp) -> None:
    v = verifier(idp)
    key = idp.keys[0]
    assert (await v.verify(key.sign())).sub == "center-1"
    await refused(v, key.sign(iss="https://evil.test/"))
    await refused(v, key.sign(aud="some-other-api"))
    await refused(v, key.sign(iss=None))
    await refused(v, key.sign(aud=None))
    # Not signed by a published key, or not an asymmetric token at all.
    await refused(v, rsa_key("rsa-1").sign())
    hs = jwt.encode({"sub": "x", "role": "procurement_center", "iss": ISSUER, "aud": AUDIENCE,
                     "exp": int(time.time()) + 60}, "unused-hs256-secret-0123456789abcdef",
                    algorithm="HS256", headers={"kid": "rsa-1"})
    await refused(v, hs)


def test_jwks_without_issuer_and_audience_is_refused() -> None:
    with pytest.raises(ValueError, match="JWT_ISSUER"):
        TokenVerifier("s" * 40, "https://idp.test/jwks.json", AUDIENCE, None)
    with pytest.raises(ValueError, match="JWT_AUDIENCE"):
        TokenVerifier("s" * 40, "https://idp.test/jwks.json", None, ISSUER)


async def test_unknown_kids_refetch_the_key_set_at_most_once_a_minute(idp: Idp) -> None:
    clock = Clock()
    v = verifier(idp, clock)
    old = idp.keys[0]
    await v.verify(old.sign())
    assert idp.hits == 1
    # Later the IdP rotates in a new key: the first token naming it triggers one refetch.
    clock.now += 61
    new = ec_key("ec-2")
    idp.keys.append(new)
    assert (await v.verify(new.sign())).sub == "center-1"
    assert idp.hits == 2
    # A flood of invented kids right after does not reach the IdP again.
    for i in range(20):
        await refused(v, old.sign(kid=f"invented-{i}"))
    assert idp.hits == 2
    # Neither does a real new key within the minute: it is accepted once a minute passed.
    newer = rsa_key("rsa-3")
    idp.keys.append(newer)
    token = newer.sign()
    await refused(v, token)
    assert idp.hits == 2
    clock.now += 59
    await refused(v, token)
    assert idp.hits == 2
    clock.now += 2  # a minute since the last fetch
    assert (await v.verify(token)).sub == "center-1"
    assert idp.hits == 3


async def test_verified_tokens_are_cached_five_minutes_at_most(idp: Idp) -> None:
    clock = Clock()
    v = verifier(idp, clock)
    key = idp.keys[0]
    long_lived = key.sign(ttl=3600)
    await v.verify(long_lived)
    cached = v._verified[long_lived][1]
    assert cached <= time.time() + 300
    assert cached >= time.time() + 290
    short = key.sign(ttl=30)
    await v.verify(short)
    assert v._verified[short][1] <= time.time() + 30
    # When the cache entry lapses, the token is verified again against the current keys:
    # a key the IdP withdrew stops working.
    idp.keys.remove(key)
    v._verified[long_lived] = (v._verified[long_lived][0], time.time() - 1)
    clock.now += 3601  # the key set is due for a refresh
    await refused(v, long_lived)
    assert idp.hits == 2

