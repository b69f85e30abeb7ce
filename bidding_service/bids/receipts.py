"""Signed bid receipts (trust.md section 4): encodings, signing and the key set. Pure.

Nothing here is stored: the `leaf` and the signature are deterministic functions of a
bid's fields (Ed25519 signatures are deterministic), so they are computed again when
needed (the 201, an idempotent replay, the close, a proof) instead of being kept in the
database, where an unkeyed hash of an amount would give the amount away.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_CENTS = Decimal("0.01")
LEAF_FIELDS = ("amount", "bid_id", "round_id", "submitted_at", "supplier_id")


def canonical_json(value: Any) -> bytes:
    """The one canonical JSON of trust.md: keys sorted, no whitespace, UTF-8 — the bytes
    of `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
    written by orjson (a tenth of the cost on the bid path and the close's leaves)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def format_amount(amount: Decimal) -> str:
    """Exactly two decimals, never an exponent: `7000.00`."""
    return f"{amount.quantize(_CENTS):f}"


def format_time(at: datetime) -> str:
    """UTC with `+00:00` and exactly six fractional digits."""
    if at.tzinfo is None:
        raise ValueError("a timestamp in a hashed string must carry its time zone")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def leaf_fields(round_id: uuid.UUID | str, bid_id: uuid.UUID | str,
                supplier_id: uuid.UUID | str, amount: Decimal, submitted_at: datetime,
                ) -> dict[str, str]:
    return {"round_id": str(round_id), "bid_id": str(bid_id),
            "supplier_id": str(supplier_id), "amount": format_amount(amount),
            "submitted_at": format_time(submitted_at)}


def leaf_of(fields: Mapping[str, str]) -> bytes:
    """The 32 raw bytes of a receipt's `leaf`: SHA-256 of the canonical JSON of its fields."""
    return hashlib.sha256(canonical_json({k: fields[k] for k in LEAF_FIELDS})).digest()


def bid_leaves(round_id: uuid.UUID, bids: Iterable[tuple[uuid.UUID, uuid.UUID, Decimal,
                                                          datetime]]) -> list[bytes]:
    """`bid_leaf` of many (bid id, supplier id, amount, submitted_at) of one round."""
    return [_bid_leaf_of_ids(round_id, bid_id, supplier_id, amount, at)
            for bid_id, supplier_id, amount, at in bids]


def bid_leaf(round_id: uuid.UUID | str, bid_id: uuid.UUID | str,
             supplier_id: uuid.UUID | str, amount: Decimal, submitted_at: datetime) -> bytes:
    if isinstance(round_id, uuid.UUID) and isinstance(bid_id, uuid.UUID) \
            and isinstance(supplier_id, uuid.UUID):
        return _bid_leaf_of_ids(round_id, bid_id, supplier_id, amount, submitted_at)
    return leaf_of(leaf_fields(round_id, bid_id, supplier_id, amount, submitted_at))


# The canonical JSON of LEAF_FIELDS spelled out (keys in sorted order): every value is a
# UUID, a two-decimal amount or an ISO time, ASCII with nothing to escape, so this is
# byte for byte what canonical_json gives (tests/unit/bidding/test_receipts.py), at a
# fraction of its cost for the close's 100,000 leaves.
_LEAF_TEXT = ('{{"amount":"{}","bid_id":"{}","round_id":"{}","submitted_at":"{}",'
              '"supplier_id":"{}"}}')


def _bid_leaf_of_ids(round_id: uuid.UUID, bid_id: uuid.UUID, supplier_id: uuid.UUID,
                     amount: Decimal, submitted_at: datetime) -> bytes:
    text = _LEAF_TEXT.format(format_amount(amount), bid_id, round_id,
                             format_time(submitted_at), supplier_id)
    return hashlib.sha256(text.encode()).digest()


def public_jwk(public_raw: bytes) -> dict[str, str]:
    x = b64url(public_raw)
    return {"kty": "OKP", "crv": "Ed25519", "kid": thumbprint(x), "x": x, "use": "sig"}


def thumbprint(x: str) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an Ed25519 public key: its stable `kid`."""
    return b64url(hashlib.sha256(canonical_json({"crv": "Ed25519", "kty": "OKP",
                                                 "x": x})).digest())


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class ReceiptSigner:
    """Signs with the current key; lists it and every retired public key in the key set."""

    private: Ed25519PrivateKey
    kid: str
    keys: tuple[dict[str, str], ...]

    @classmethod
    def from_seed(cls, seed: bytes, retired_public: Iterable[bytes] = ()) -> ReceiptSigner:
        private = Ed25519PrivateKey.from_private_bytes(seed)
        current = public_jwk(_raw_public(private.public_key()))
        keys = [current]
        for raw in retired_public:
            jwk = public_jwk(Ed25519PublicKey.from_public_bytes(raw).public_bytes(
                Encoding.Raw, PublicFormat.Raw))
            if all(k["kid"] != jwk["kid"] for k in keys):
                keys.append(jwk)
        return cls(private, current["kid"], tuple(keys))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(k) for k in self.keys]}

    def receipt(self, round_id: uuid.UUID | str, bid_id: uuid.UUID | str,
                supplier_id: uuid.UUID | str, amount: Decimal, submitted_at: datetime,
                ) -> dict[str, str]:
        fields = leaf_fields(round_id, bid_id, supplier_id, amount, submitted_at)
        leaf = leaf_of(fields)
        return {**fields, "leaf": leaf.hex(), "key_id": self.kid,
                "signature": b64url(self.private.sign(leaf))}


def bid_receipt(signer: ReceiptSigner, bid: Mapping[str, Any]) -> dict[str, str]:
    """The receipt of a bid as the API renders it (`id`, `round_id`, `supplier_id`,
    `amount`, `submitted_at`)."""
    return signer.receipt(bid["round_id"], bid["id"], bid["supplier_id"],
                          Decimal(str(bid["amount"])),
                          datetime.fromisoformat(str(bid["submitted_at"])))


def verify_receipt(receipt: Mapping[str, Any], jwks: Mapping[str, Any]) -> str | None:
    """None when `receipt` is well formed and its signature verifies with its `key_id` in
    `jwks`; otherwise what is wrong, in words."""
    try:
        fields = {k: str(receipt[k]) for k in LEAF_FIELDS}
        leaf = leaf_of(fields)
        if str(receipt["leaf"]) != leaf.hex():
            return "the receipt's leaf is not the hash of its fields"
        kid = str(receipt["key_id"])
        signature = b64url_decode(str(receipt["signature"]))
    except (KeyError, ValueError, TypeError):
        return "the receipt lacks a field or has a malformed one"
    for key in jwks.get("keys", []):
        if key.get("kid") == kid and key.get("kty") == "OKP" and key.get("crv") == "Ed25519":
            try:
                Ed25519PublicKey.from_public_bytes(b64url_decode(str(key["x"]))).verify(
                    signature, leaf)
            except (InvalidSignature, ValueError):
                return "the signature does not verify with the service's key " + kid
            return None
    return f"no key {kid} in the service's key set"
