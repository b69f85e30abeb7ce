"""Bid amounts sealed at rest (trust.md 3): AES-256-GCM bound to the row, keyed HMACs.

Pure: no database, no HTTP. A ciphertext is

    version (1 byte, 1) | key id (4 bytes) | nonce (12 random bytes) | AES-GCM(ct + tag)

under `BID_ENCRYPTION_KEY`, with associated data naming the row it belongs to (round,
supplier, bid), so a ciphertext copied to another row does not open: it is refused with
`SealedDataError`, never used. The key id lets a later key rotation decrypt old rows
(`Sealer(new, old_keys=[old])`). An amount is sealed as its cents in 8 bytes, so every
ciphertext has the same length whatever the amount's magnitude.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
KEY_ID_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES
AMOUNT_BYTES = 8


class SealedDataError(Exception):
    """A stored ciphertext that does not open where it is (tampered, moved, wrong key)."""


def key_id(key: bytes) -> bytes:
    """A short public name of a key (an HMAC of it: reveals nothing of the key)."""
    return hmac.new(key, b"procurement bid-encryption key id", hashlib.sha256).digest()[
        :KEY_ID_BYTES]


def bid_ad(round_id: uuid.UUID, supplier_id: uuid.UUID, bid_id: uuid.UUID) -> bytes:
    """Associated data of a bid's amount: the bids row and the invitation's copy of it."""
    return b"bid-amount\x1f" + round_id.bytes + supplier_id.bytes + bid_id.bytes


def best_ad(round_id: uuid.UUID) -> bytes:
    """Associated data of a round's best valid amount (anti-sniping)."""
    return b"best-amount\x1f" + round_id.bytes


class Sealer:
    """Encrypts and opens amounts and stored answers; computes keyed fingerprints."""

    def __init__(self, key: bytes, *, old_keys: Iterable[bytes] = ()) -> None:
        if len(key) != 32:
            raise ValueError("the bid encryption key must be 32 bytes")
        self._kid = key_id(key)
        self._aead = {key_id(k): AESGCM(k) for k in (*old_keys, key)}
        self._fingerprint_key = hmac.new(key, b"procurement idempotency fingerprint",
                                         hashlib.sha256).digest()

    # ------------------------------------------------------------ bytes

    def seal(self, plaintext: bytes, ad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return (bytes([VERSION]) + self._kid + nonce
                + self._aead[self._kid].encrypt(nonce, plaintext, ad))

    def open(self, blob: bytes, ad: bytes) -> bytes:
        if len(blob) < HEADER_BYTES + TAG_BYTES or blob[0] != VERSION:
            raise SealedDataError("not a sealed value of a known version")
        aead = self._aead.get(bytes(blob[1:1 + KEY_ID_BYTES]))
        if aead is None:
            raise SealedDataError("sealed under a key this process does not hold")
        nonce = bytes(blob[1 + KEY_ID_BYTES:HEADER_BYTES])
        try:
            return aead.decrypt(nonce, bytes(blob[HEADER_BYTES:]), ad)
        except InvalidTag:
            raise SealedDataError("a sealed value does not open for its row: tampered or "
                                  "moved from another row") from None

    # ------------------------------------------------------------ amounts

    def seal_amount(self, amount: Decimal, ad: bytes) -> bytes:
        cents = amount * 100
        if cents != cents.to_integral_value() or cents < 0:
            raise ValueError("an amount is a non-negative number of cents")
        return self.seal(int(cents).to_bytes(AMOUNT_BYTES, "big"), ad)

    def open_amount(self, blob: bytes, ad: bytes) -> Decimal:
        plain = self.open(blob, ad)
        if len(plain) != AMOUNT_BYTES:
            raise SealedDataError("a sealed amount of the wrong length")
        return Decimal(int.from_bytes(plain, "big")).scaleb(-2)

    def open_amounts(self, items: Iterable[tuple[bytes, bytes]]) -> list[Decimal]:
        """`open_amount` over many (ciphertext, associated data): the close's 100,000."""
        aead = self._aead
        out = []
        for blob, ad in items:
            cipher = aead.get(blob[1:1 + KEY_ID_BYTES]) if blob[0] == VERSION else None
            if cipher is None or len(blob) != HEADER_BYTES + AMOUNT_BYTES + TAG_BYTES:
                self.open_amount(blob, ad)  # raises the precise SealedDataError
            assert cipher is not None
            try:
                plain = cipher.decrypt(blob[1 + KEY_ID_BYTES:HEADER_BYTES], blob[HEADER_BYTES:],
                                       ad)
            except InvalidTag:
                raise SealedDataError("a sealed value does not open for its row: tampered or "
                                      "moved from another row") from None
            out.append(Decimal(int.from_bytes(plain, "big")).scaleb(-2))
        return out

    # ------------------------------------------------------------ idempotency

    def fingerprint(self, request: Any) -> str:
        """A keyed HMAC of a request (an amount has ~10^8 values: a plain hash would
        give it away)."""
        mac = hmac.new(self._fingerprint_key,
                       orjson.dumps(request, option=orjson.OPT_SORT_KEYS, default=str),
                       hashlib.sha256).hexdigest()
        return f"hmac-sha256:{self._kid.hex()}:{mac}"

    def seal_answer(self, body: dict[str, Any], ad: bytes) -> dict[str, Any]:
        return {"sealed": base64.b64encode(self.seal(orjson.dumps(body), ad)).decode()}

    def open_answer(self, stored: dict[str, Any], ad: bytes) -> dict[str, Any]:
        text = stored.get("sealed") if isinstance(stored, dict) else None
        if not isinstance(text, str) or len(stored) != 1:
            raise SealedDataError("a stored answer that should be sealed is not")
        try:
            blob = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SealedDataError("a sealed answer that is not base64") from None
        body = orjson.loads(self.open(blob, ad))
        if not isinstance(body, dict):
            raise SealedDataError("a sealed answer that is not an object")
        return body
