"""The hash chain of the audit trail (trust.md section 6). Pure: no I/O.

content_hash = SHA-256 hex of the canonical JSON of an entry's `seq, at, actor,
actor_role, action, subject, details` (exactly the values the API shows); hash =
SHA-256 hex of the UTF-8 text previous hash (64 zeros for the first) + content_hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64
CONTENT_FIELDS = ("seq", "at", "actor", "actor_role", "action", "subject", "details")


def canonical_json(value: Any) -> bytes:
    """Keys sorted, no whitespace, UTF-8: `json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`. Values of strings, booleans, null and
    64-bit integers only (every entry of a bid) are written by orjson, which gives the
    same bytes for them at a tenth of the cost; floats (whose shortest form the two may
    write differently) and anything else go through json."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate
            pass
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def _plain(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is not str and kind is not int and kind is not bool and item is not None:
            return False
    return True


def format_at(at: datetime) -> str:
    """An entry's `at` as the API shows it and as it is hashed."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def content_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json({k: entry[k] for k in CONTENT_FIELDS})).hexdigest()


def link(previous: str, content: str) -> str:
    return hashlib.sha256((previous + content).encode()).hexdigest()


def first_break(entries: Iterable[Mapping[str, Any]], start_seq: int = 1,
                start_hash: str = GENESIS) -> tuple[int | None, str, int, str]:
    """Walk `entries` in seq order: (seq of the first broken entry or None, what is
    wrong, last good seq, last good hash)."""
    seq, previous = start_seq - 1, start_hash
    for entry in entries:
        if entry.get("seq") != seq + 1:
            return (seq + 1, f"entry {seq + 1} is missing (next is {entry.get('seq')})",
                    seq, previous)
        seq += 1
        if entry.get("content_hash") != content_hash(entry):
            return seq, f"entry {seq}'s content does not match its content_hash", seq - 1, \
                previous
        if entry.get("hash") != link(previous, str(entry.get("content_hash"))):
            return seq, f"entry {seq}'s hash does not chain from entry {seq - 1}", seq - 1, \
                previous
        previous = str(entry["hash"])
    return None, "", seq, previous
