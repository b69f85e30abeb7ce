"""Receipt encodings (trust.md section 4), checked against values computed here
independently with hashlib and cryptography, not with the project's own helpers."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bidding_service.bids.receipts import (
    ReceiptSigner,
    bid_leaf,
    bid_leaves,
    bid_receipt,
    canonical_json,
    leaf_fields,
    leaf_of,
    verify_receipt,
)

SEED = bytes(range(32))
ROUND = "6f2c1d3e-0000-4000-8000-000000000001"
BID = "a1b2c3d4-0000-4000-8000-000000000002"
SUPPLIER = "5e6f7a8b-0000-4000-8000-000000000003"
# The bytes trust.md prescribes, written out by hand: keys sorted, no whitespace.
LEAF_TEXT = (b'{"amount":"7000.00","bid_id":"a1b2c3d4-0000-4000-8000-000000000002",'
             b'"round_id":"6f2c1d3e-0000-4000-8000-000000000001",'
             b'"submitted_at":"2026-12-01T08:00:00.000000+00:00",'
             b'"supplier_id":"5e6f7a8b-0000-4000-8000-000000000003"}')


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_receipt_matches_an_independently_computed_vector() -> None:
    signer = ReceiptSigner.from_seed(SEED)
    # 16:00 in Shanghai, no microseconds, an amount without decimals: all normalised.
    at = datetime(2026, 12, 1, 16, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    receipt = signer.receipt(ROUND, BID, SUPPLIER, Decimal("7000"), at)

    leaf = hashlib.sha256(LEAF_TEXT).digest()
    assert receipt["leaf"] == leaf.hex()
    assert receipt["amount"] == "7000.00"
    assert receipt["submitted_at"] == "2026-12-01T08:00:00.000000+00:00"
    # Ed25519 is deterministic: the same key signs the same 32 bytes the same way.
    expected = Ed25519PrivateKey.from_private_bytes(SEED).sign(leaf)
    assert _b64url_decode(receipt["signature"]) == expected
    assert "=" not in receipt["signature"]

    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    (jwk,) = signer.jwks()["keys"]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["use"] == "sig"
    assert _b64url_decode(jwk["x"]) == public
    # RFC 7638 thumbprint: SHA-256 of {"crv","kty","x"} in that order, no whitespace.
    members = b'{"crv":"Ed25519","kty":"OKP","x":"' + jwk["x"].encode() + b'"}'
    kid = base64.urlsafe_b64encode(hashlib.sha256(members).digest()).rstrip(b"=").decode()
    assert jwk["kid"] == kid == receipt["key_id"]
    Ed25519PublicKey.from_public_bytes(public).verify(
        _b64url_decode(receipt["signature"]), bytes.fromhex(receipt["leaf"]))


def test_non_ascii_and_microseconds_are_encoded_exactly() -> None:
    signer = ReceiptSigner.from_seed(SEED)
    at = datetime(2026, 12, 1, 8, 0, 0, 123400, tzinfo=UTC)
    receipt = signer.receipt(ROUND, BID, SUPPLIER, Decimal("1E+3"), at)
    assert receipt["submitted_at"] == "2026-12-01T08:00:00.123400+00:00"
    assert receipt["amount"] == "1000.00"


def test_replayed_body_gives_the_identical_receipt() -> None:
    signer = ReceiptSigner.from_seed(SEED)
    body = {"id": BID, "round_id": ROUND, "supplier_id": SUPPLIER, "amount": "7000.00",
            "submitted_at": "2026-12-01T08:00:00+00:00"}
    assert bid_receipt(signer, body) == bid_receipt(signer, dict(body))
    assert bid_receipt(signer, body)["submitted_at"] == "2026-12-01T08:00:00.000000+00:00"


def test_tampering_and_unknown_keys_fail_and_rotation_keeps_old_receipts() -> None:
    old = ReceiptSigner.from_seed(SEED)
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    receipt = old.receipt(ROUND, BID, SUPPLIER, Decimal("7000.00"), at)
    assert verify_receipt(receipt, old.jwks()) is None
    for field, value in (("amount", "6999.00"), ("bid_id", ROUND), ("leaf", "00" * 32),
                         ("signature", receipt["signature"][:-2] + "AA")):
        problem = verify_receipt({**receipt, field: value}, old.jwks())
        assert problem is not None, field
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(_b64url_decode(old.jwks()["keys"][0]["x"])).verify(
            _b64url_decode(receipt["signature"]), hashlib.sha256(b"other").digest())

    retired_public = _b64url_decode(old.jwks()["keys"][0]["x"])
    new = ReceiptSigner.from_seed(hashlib.sha256(b"next key").digest(), [retired_public])
    assert new.kid != old.kid and [k["kid"] for k in new.jwks()["keys"]] == [new.kid, old.kid]
    assert verify_receipt(receipt, new.jwks()) is None
    assert verify_receipt(receipt, ReceiptSigner.from_seed(b"\x07" * 32).jwks()) is not None


def test_canonical_json_is_the_bytes_the_contract_names() -> None:
    """orjson writes exactly `json.dumps(sort_keys, separators=(",", ":"),
    ensure_ascii=False)` for the string fields that are hashed."""
    for value in ({"b": "2", "a": "1"}, {"amount": "7000.00", "bid_id": "x"},
                  {"name": "深圳市压测采购单位", "q": 'quote " and \\ back'},
                  {"ctl": "tab\tnl\nnul\x00bell\x07del\x7f", "e": ""}):
        assert canonical_json(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_bid_leaves_in_bulk_are_the_leaves_one_by_one() -> None:
    rid = uuid.uuid4()
    cst = timezone(timedelta(hours=8))
    bids = [(uuid.uuid4(), uuid.uuid4(), Decimal(amount), at) for amount, at in (
        ("7000", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("0.5", datetime(2026, 12, 1, 16, 0, 0, 123456, tzinfo=cst)),
        ("123456789.99", datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=UTC)))]
    assert bid_leaves(rid, bids) == [
        leaf_of(leaf_fields(rid, *b)) for b in bids]  # the canonical_json path


def test_the_leaf_of_uuid_fields_is_the_receipts_leaf() -> None:
    """The close's leaf of a bids row (UUIDs as they come from the database) is the
    hand-written vector, and the receipt's leaf for any amount and time."""
    ids = uuid.UUID(ROUND), uuid.UUID(BID), uuid.UUID(SUPPLIER)
    at = datetime(2026, 12, 1, 16, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    assert bid_leaf(*ids, Decimal("7000"), at) == hashlib.sha256(LEAF_TEXT).digest()
    signer = ReceiptSigner.from_seed(SEED)
    for amount, when in ((Decimal("0.1"), datetime(2027, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
                         (Decimal("1E+6"), datetime(2026, 6, 30, 23, 59, 59, 999999,
                                                    tzinfo=timezone(timedelta(hours=-5))))):
        receipt = signer.receipt(ROUND, BID, SUPPLIER, amount, when)
        assert bid_leaf(*ids, amount, when).hex() == receipt["leaf"]
        assert bid_leaf(ROUND, BID, SUPPLIER, amount, when).hex() == receipt["leaf"]
