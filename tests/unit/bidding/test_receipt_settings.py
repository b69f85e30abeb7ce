"""RECEIPT_SIGNING_KEY / RECEIPT_RETIRED_KEYS (trust.md sections 1 and 4)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bidding_service.bids.receipts import ReceiptSigner
from bidding_service.settings import BiddingSettings

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def _signer(settings: BiddingSettings) -> ReceiptSigner:
    return ReceiptSigner.from_seed(settings.receipt_seed(), settings.retired_receipt_keys())


def test_the_key_is_required_unless_dev_mode_and_must_be_32_bytes() -> None:
    names = [n for n, _ in BiddingSettings(jwt_secret=SECRET).unsafe_settings()]
    assert "RECEIPT_SIGNING_KEY" in names
    assert "RECEIPT_SIGNING_KEY" not in [
        n for n, _ in BiddingSettings(jwt_secret=SECRET, dev_mode=True).unsafe_settings()]
    short = base64.b64encode(b"x" * 16).decode()
    assert "RECEIPT_SIGNING_KEY" in [n for n, _ in BiddingSettings(
        jwt_secret=SECRET, dev_mode=True, receipt_signing_key=short).unsafe_settings()]
    assert "RECEIPT_RETIRED_KEYS" in [n for n, _ in BiddingSettings(
        jwt_secret=SECRET, dev_mode=True, receipt_retired_keys="not base64!").unsafe_settings()]
    good = base64.b64encode(b"k" * 32).decode()
    assert BiddingSettings(jwt_secret=SECRET, receipt_signing_key=good,
                           bid_encryption_key=good).unsafe_settings() == []


def test_every_process_signs_with_the_same_key() -> None:
    seed = hashlib.sha256(b"production seed").digest()
    env = {"jwt_secret": SECRET, "receipt_signing_key": base64.b64encode(seed).decode()}
    a, b = _signer(BiddingSettings(**env)), _signer(BiddingSettings(**env))
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    assert a.jwks() == b.jwks()
    assert a.jwks()["keys"][0]["x"] == base64.urlsafe_b64encode(public).rstrip(b"=").decode()
    # The development key too is derived the same way in every process.
    dev = {"jwt_secret": SECRET, "dev_mode": True}
    assert _signer(BiddingSettings(**dev)).kid == _signer(BiddingSettings(**dev)).kid


def test_retired_keys_stay_listed_after_a_rotation() -> None:
    old = _signer(BiddingSettings(jwt_secret=SECRET, dev_mode=True))
    x = old.jwks()["keys"][0]["x"]
    new_seed = base64.b64encode(hashlib.sha256(b"new").digest()).decode()
    rotated = _signer(BiddingSettings(jwt_secret=SECRET, receipt_signing_key=new_seed,
                                      receipt_retired_keys=f" {x} "))
    assert [k["kid"] for k in rotated.jwks()["keys"]] == [rotated.kid, old.kid]
