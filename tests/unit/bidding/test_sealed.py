"""bidding_service.sealed: AES-256-GCM amounts bound to their row, keyed fingerprints,
and the setting that holds the key."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest
from pydantic import SecretStr

from bidding_service.bids.sealed import SealedDataError, Sealer, best_ad, bid_ad
from bidding_service.settings import BiddingSettings

KEY = bytes(range(32))


def ids() -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    return uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def test_an_amount_opens_only_for_its_own_row() -> None:
    s = Sealer(KEY)
    r, sup, b = ids()
    ct = s.seal_amount(Decimal("7345.67"), bid_ad(r, sup, b))
    assert s.open_amount(ct, bid_ad(r, sup, b)) == Decimal("7345.67")
    for other in (bid_ad(uuid.uuid4(), sup, b), bid_ad(r, uuid.uuid4(), b),
                  bid_ad(r, sup, uuid.uuid4()), best_ad(r)):
        with pytest.raises(SealedDataError):
            s.open_amount(ct, other)


def test_ciphertexts_are_random_fixed_length_and_hold_no_amount() -> None:
    s = Sealer(KEY)
    ad = bid_ad(*ids())
    small, big = s.seal_amount(Decimal("0.01"), ad), s.seal_amount(Decimal("99999999.99"), ad)
    again = s.seal_amount(Decimal("0.01"), ad)
    assert len(small) == len(big) == 1 + 4 + 12 + 8 + 16
    assert small != again and small[5:17] != again[5:17]  # a fresh 96-bit nonce each time
    ct = s.seal_amount(Decimal("7345.67"), ad)
    assert b"734567" not in ct and b"7345.67" not in ct and b"734567" not in ct.hex().encode()


@pytest.mark.parametrize("flip", [0, 3, 10, 20, -1])
def test_a_changed_byte_is_refused(flip: int) -> None:
    s = Sealer(KEY)
    ad = bid_ad(*ids())
    ct = bytearray(s.seal_amount(Decimal("12.34"), ad))
    ct[flip] ^= 0x01
    with pytest.raises(SealedDataError):
        s.open_amount(bytes(ct), ad)


def test_another_key_is_refused_and_an_old_key_still_opens() -> None:
    ad = bid_ad(*ids())
    old = Sealer(KEY).seal_amount(Decimal("1.00"), ad)
    new_key = os.urandom(32)
    with pytest.raises(SealedDataError, match="key"):
        Sealer(new_key).open_amount(old, ad)
    rotated = Sealer(new_key, old_keys=[KEY])
    assert rotated.open_amount(old, ad) == Decimal("1.00")
    assert rotated.seal_amount(Decimal("1.00"), ad)[1:5] != old[1:5]  # new key id


def test_fingerprints_are_keyed_and_answers_sealed() -> None:
    s, other = Sealer(KEY), Sealer(os.urandom(32))
    request = ["a-round", "7345.67"]
    assert s.fingerprint(request) == s.fingerprint(list(request))
    assert s.fingerprint(request) != other.fingerprint(request)
    assert s.fingerprint(request) != s.fingerprint(["a-round", "7345.66"])
    assert "7345" not in s.fingerprint(request)
    body = {"id": "b", "amount": "7345.67"}
    stored = s.seal_answer(body, b"caller\x1fkey")
    assert "7345" not in str(stored)
    assert s.open_answer(stored, b"caller\x1fkey") == body
    for bad in ({"sealed": stored["sealed"]}, body, {"sealed": "!!"}):
        with pytest.raises(SealedDataError):
            s.open_answer(bad, b"caller\x1fother-key" if bad is not body else b"caller\x1fkey")


def test_the_key_setting_is_required_unless_dev_mode() -> None:
    names = [name for name, _ in BiddingSettings(dev_mode=False).unsafe_settings()]
    assert "BID_ENCRYPTION_KEY" in names
    assert "BID_ENCRYPTION_KEY" not in [
        n for n, _ in BiddingSettings(dev_mode=True).unsafe_settings()]
    good = SecretStr(base64.b64encode(KEY).decode())
    assert "BID_ENCRYPTION_KEY" not in [
        n for n, _ in BiddingSettings(dev_mode=False, bid_encryption_key=good).unsafe_settings()]
    short = SecretStr(base64.b64encode(KEY[:16]).decode())
    for dev in (False, True):
        assert "BID_ENCRYPTION_KEY" in [n for n, _ in BiddingSettings(
            dev_mode=dev, bid_encryption_key=short).unsafe_settings()]
    assert BiddingSettings(dev_mode=False, bid_encryption_key=good).bid_key() == KEY
    with pytest.raises(ValueError, match="BID_ENCRYPTION_KEY"):
        BiddingSettings(dev_mode=False).bid_key()
    # The development key is the same in every process (derived from JWT_SECRET).
    assert BiddingSettings(dev_mode=True).bid_key() == BiddingSettings(dev_mode=True).bid_key()


def test_the_service_refuses_to_start_without_the_key() -> None:
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in ("DEV_MODE", "BID_ENCRYPTION_KEY")}
    env.update(MIGRATE_ON_START="false", HTTP_PORT="1", JWT_SECRET="x" * 48,
               DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    proc = subprocess.run([sys.executable, "-m", "bidding_service"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "BID_ENCRYPTION_KEY" in proc.stdout + proc.stderr
