"""`Idempotency-Key`: the same key from the same caller returns the first answer again."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from shared.problems import unprocessable
from shared.uow import UnitOfWork

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    location: str | None = None


class AnswerSealer(Protocol):
    """Encrypts stored answers that must not be kept in clear (bid amounts, trust.md 3)."""

    def seal_answer(self, body: dict[str, Any], ad: bytes) -> dict[str, Any]: ...

    def open_answer(self, stored: dict[str, Any], ad: bytes) -> dict[str, Any]: ...


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise unprocessable(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return key


def request_hash(body: Any) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS,
                                       default=str)).hexdigest()


def answer_ad(caller: str, key: str) -> bytes:
    """Associated data of a sealed stored answer: bound to its caller and key."""
    return b"answer\x1f" + caller.encode() + b"\x1f" + key.encode()


async def once(uow: UnitOfWork, caller: str, key: str | None, fingerprint: str,
               action: Callable[[], Awaitable[Outcome]], *,
               sealer: AnswerSealer | None = None) -> Outcome:
    """Run `action` inside `uow` unless `caller` already used `key`; then replay its answer.

    The key is taken under a transaction-scoped advisory lock, so two concurrent
    requests with one key run the action once; the answer commits with the change.
    With `sealer`, the answer is stored encrypted, bound to (caller, key).
    """
    if key is None:
        return await action()
    conn = uow.conn
    ad = answer_ad(caller, key)
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{caller}\x1f{key}")
    row = await conn.fetchrow(
        "SELECT request_hash, status, body, location FROM idempotency_keys"
        " WHERE caller = $1 AND key = $2", caller, key)
    if row is not None:
        if row["request_hash"] != fingerprint:
            raise unprocessable("this Idempotency-Key was used with a different request",
                                slug="idempotency-key-reused")
        body = row["body"] if sealer is None else sealer.open_answer(row["body"], ad)
        return Outcome(row["status"], body, row["location"])
    outcome = await action()
    stored = outcome.body if sealer is None else sealer.seal_answer(outcome.body, ad)
    await conn.execute(
        "INSERT INTO idempotency_keys (caller, key, request_hash, status, body, location)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        caller, key, fingerprint, outcome.status, stored, outcome.location)
    return outcome
