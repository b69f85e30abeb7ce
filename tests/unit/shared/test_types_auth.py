"""Money, time, problem rendering and tokens: the shared pieces both services rely on."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import jwt
import pytest
from pydantic import BaseModel, ValidationError

from shared.auth import Role, TokenVerifier, mint_token
from shared.problems import Problem
from shared.settings import ServiceSettings, mask_url
from shared.types import JsonNumber, Money, Timestamp, parse_money

SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret"


class M(BaseModel):
    amount: Money
    at: Timestamp | None = None


@pytest.mark.parametrize("value,expected", [
    ("12500.00", "12500.00"), ("12500", "12500.00"), (12500, "12500.00"),
    (Decimal("0.1"), "0.10"), ("99999999999999.99", "99999999999999.99"),
])
def test_money_accepts_decimal_text(value: object, expected: str) -> None:
    assert M(amount=value).model_dump(mode="json")["amount"] == expected


@pytest.mark.parametrize("value", [
    "1.001", 1.5, True, "NaN", "Infinity", "-Infinity", Decimal("1e400"), "abc", "",
    "100000000000000.00", None, [], "1.230",
])
def test_money_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValidationError):
        M(amount=value)


# The hostile texts of issue 10: each is a number to Python's Decimal, none is money.
HOSTILE_MONEY = ["1E+2", "1e2", "１００.００", "1_000.00", " 100.00 ", "100.00 ", "\t100.00",
                 "+100.00", "-100.00", "-0", "0100.00", "00.50", "100.", ".50", "100,00",
                 "١٠٠", "100.00\n", "0x10", "1 000.00", "100.0.0", "∞"]


@pytest.mark.parametrize("text", HOSTILE_MONEY)
def test_money_text_outside_the_plain_ascii_rule_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        M(amount=text)


@pytest.mark.parametrize("number", [Decimal("1E+2"), Decimal("-5.00"), JsonNumber("1.5e1"),
                                    JsonNumber("100e-2"), Decimal("1E+1"), JsonNumber("-0"),
                                    -3, Decimal("1.000")])
def test_numbers_are_judged_by_their_decimal_text(number: object) -> None:
    with pytest.raises(ValidationError):
        M(amount=number)


@pytest.mark.parametrize("value,expected", [
    ("0", "0.00"), ("0.5", "0.50"), ("10.05", "10.05"), (Decimal("100.0"), "100.00"), (0, "0.00"),
])
def test_plain_money_text_still_passes(value: object, expected: str) -> None:
    assert M(amount=value).model_dump(mode="json")["amount"] == expected


def test_the_published_money_pattern_is_the_rule() -> None:
    import re

    # JSON Schema patterns are ECMA-262: `$` is the very end (Python's `\Z`).
    pattern = M.model_json_schema()["properties"]["amount"]["pattern"].replace("$", r"\Z")
    assert not any(re.search(pattern, t) for t in HOSTILE_MONEY)
    assert all(re.search(pattern, t) for t in ("0", "12500.00", "99999999999999.99"))


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValidationError):
        M(amount="1", at="2026-11-27T08:00:00")
    assert M(amount="1", at="2026-11-27T08:00:00+08:00").at is not None


def test_parse_money_quantizes_to_cents() -> None:
    assert str(parse_money("7")) == "7.00"


async def test_tokens_roles_and_forgeries() -> None:
    verifier = TokenVerifier(SECRET)
    sid = uuid.uuid4()
    p = await verifier.verify(mint_token(SECRET, Role.SUPPLIER, supplier_id=sid))
    assert p.role is Role.SUPPLIER and p.supplier_id == sid
    b = await verifier.verify(mint_token(SECRET, "buyer", org="WZ-1"))
    assert b.org == "WZ-1"
    now = int(time.time())
    forged = [
        mint_token("wrong-wrong-wrong-wrong-wrong-wrong", Role.FINANCE),
        mint_token(SECRET, Role.FINANCE, ttl_seconds=-10),
        jwt.encode({"sub": "x", "role": "procurement_center", "exp": now + 60}, None,
                   algorithm="none"),
        jwt.encode({"sub": "x", "role": "admin", "exp": now + 60}, SECRET, algorithm="HS256"),
        jwt.encode({"sub": "x", "role": "supplier", "exp": now + 60}, SECRET,
                   algorithm="HS256"),  # no supplier_id
        jwt.encode({"sub": "x", "role": "buyer", "exp": now + 60}, SECRET,
                   algorithm="HS256"),  # no org
        jwt.encode({"sub": "x", "role": "finance"}, SECRET, algorithm="HS256"),  # no exp
        "not.a.jwt",
    ]
    for token in forged:
        with pytest.raises(Problem) as info:
            await verifier.verify(token)
        assert info.value.status == 401


def test_settings_mask_secrets() -> None:
    s = ServiceSettings(database_url="postgresql://u:pw@h/db", amqp_url="amqp://g:pw2@h/")
    text = str(s.masked())
    assert "pw" not in text.replace("***", "") and "***" in text
    assert mask_url("postgresql://h/db") == "postgresql://h/db"


async def test_a_cached_token_still_expires() -> None:
    verifier = TokenVerifier(SECRET)
    token = mint_token(SECRET, Role.FINANCE, ttl_seconds=1)
    assert (await verifier.verify(token)).role is Role.FINANCE
    assert (await verifier.verify(token)).role is Role.FINANCE  # from the cache
    import asyncio

    await asyncio.sleep(1.1)
    with pytest.raises(Problem) as info:
        await verifier.verify(token)
    assert info.value.status == 401


@pytest.mark.parametrize("raw", [
    b'{"a": 1, "a": 1}', b'{"a": {"b": 1, "b": 2}}', b'[{"x": [{"c": 1, "c": 2}]}]',
    b'{"a": 1, "b": {"a": 1, "a\\u0000": 2, "a": 3}}',
])
def test_a_repeated_key_at_any_depth_is_malformed(raw: bytes) -> None:
    from shared.http import loads_json

    with pytest.raises(Problem) as info:
        loads_json(raw)
    assert info.value.status == 400


def test_json_numbers_keep_their_text() -> None:
    from shared.http import loads_json

    data = loads_json(b'{"a": 1.5e1, "b": -0, "c": 7, "d": {"a": 1}, "e": [{"a": 2}]}')
    assert data["a"] == 15 and data["a"].text == "1.5e1"
    assert isinstance(data["b"], JsonNumber) and data["b"].text == "-0"
    assert data["c"] == 7 and type(data["c"]) is int
    assert data["d"] == {"a": 1} and data["e"] == [{"a": 2}]
