"""trust.md 1: a service refuses to start with an unsafe or invalid configuration: exit
code 2, one log line naming the setting, before it touches anything else."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bidding_service.settings import BiddingSettings
from pool_service.settings import PoolSettings
from shared.settings import DEV_JWT_SECRET, ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
STRONG = "k" + uuid.uuid4().hex + uuid.uuid4().hex  # 65 random-looking bytes
# Nothing listens here: a service that got past the guard would fail differently.
UNREACHABLE = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
               "AMQP_URL": "amqp://guest:guest@127.0.0.1:9/"}


# The bidding service's own keys, valid, so that a test about another setting sees only it.
BIDDING_KEYS = {"BID_ENCRYPTION_KEY": base64.b64encode(b"e" * 32).decode(),
                "RECEIPT_SIGNING_KEY": base64.b64encode(b"s" * 32).decode()}


def start(module: str, *args: str, **env: str) -> tuple[int, list[str], str, float]:
    """Run `python -m module args` with only `env` set (and, for the bidding service,
    valid keys unless `env` names them); (code, stdout lines, stderr, seconds)."""
    base = {k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")}
    if module == "bidding_service":
        base.update(BIDDING_KEYS)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          env={**base, **UNREACHABLE, **env}, capture_output=True,
                          text=True, timeout=60, check=False)
    return (proc.returncode, proc.stdout.splitlines(), proc.stderr,
            time.monotonic() - started)


def refused(module: str, *args: str, **env: str) -> dict[str, str]:
    record, _ = refused_in(module, *args, **env)
    return record


def refused_in(module: str, *args: str, **env: str) -> tuple[dict[str, str], float]:
    """The one log line of a refused start, and how long the process took."""
    code, lines, stderr, elapsed = start(module, *args, **env)
    assert code == 2, (code, lines, stderr)
    assert len(lines) == 1, lines
    assert "Traceback" not in stderr and not stderr.strip(), stderr
    record: dict[str, str] = json.loads(lines[0])
    assert record["level"] == "error"
    return record, elapsed


@pytest.mark.parametrize(("module", "command"), [
    ("pool_service", "serve"), ("pool_service", "migrate"), ("pool_service", "seed"),
    ("bidding_service", "serve"), ("bidding_service", "migrate")])
def test_every_command_refuses_the_built_in_secret(module: str, command: str) -> None:
    record, elapsed = refused_in(module, command)
    assert elapsed < 10  # the contract's bound, not a performance figure
    assert record["setting"] == "JWT_SECRET"
    assert "built-in" in record["reason"]
    assert DEV_JWT_SECRET not in json.dumps(record)


@pytest.mark.parametrize("secret", [
    "short-but-random-4f9a",  # < 32 bytes
    "REPLACE-ME-with-a-random-secret-of-at-least-32-bytes",
    "dev-secret-change-me-dev-secret-change-me-0123456789",
    "please-CHANGEME-0123456789abcdef0123456789abcdef",
    "an-Example-secret-0123456789abcdef0123456789abcdef",
])
def test_weak_secrets_are_refused_unless_dev_mode(secret: str) -> None:
    unsafe = ServiceSettings(jwt_secret=secret, dev_mode=False).unsafe_settings()
    assert [name for name, _ in unsafe] == ["JWT_SECRET"]
    assert ServiceSettings(jwt_secret=secret, dev_mode=True).unsafe_settings() == []
    record = refused("bidding_service", "migrate", JWT_SECRET=secret)
    assert record["setting"] == "JWT_SECRET"
    assert secret not in json.dumps(record)


def test_a_strong_secret_or_dev_mode_gets_past_the_guard() -> None:
    assert ServiceSettings(jwt_secret=STRONG, dev_mode=False).unsafe_settings() == []
    assert ServiceSettings(dev_mode=True).unsafe_settings() == []
    # Past the guard, `migrate` fails on the unreachable database, not with code 2.
    code, lines, _, _ = start("pool_service", "migrate", JWT_SECRET=STRONG)
    assert code not in (0, 2), lines
    code, lines, _, _ = start("pool_service", "migrate", DEV_MODE="true")
    assert code not in (0, 2), lines


def test_jwks_needs_issuer_and_audience() -> None:
    jwks = {"JWT_SECRET": STRONG, "JWT_JWKS_URL": "https://idp.test/jwks.json"}
    record = refused("pool_service", **jwks)
    assert record["setting"] == "JWT_ISSUER, JWT_AUDIENCE"
    record = refused("pool_service", **jwks, JWT_ISSUER="https://idp.test/")
    assert record["setting"] == "JWT_AUDIENCE"
    # DEV_MODE does not excuse a JWKS without issuer and audience.
    settings = PoolSettings(jwt_jwks_url="https://idp.test/jwks.json", dev_mode=True)
    assert [name for name, _ in settings.unsafe_settings()] == ["JWT_ISSUER", "JWT_AUDIENCE"]
    assert PoolSettings(jwt_jwks_url="https://idp.test/jwks.json", jwt_issuer="i",
                        jwt_audience="a", jwt_secret=STRONG).unsafe_settings() == []


@pytest.mark.parametrize(("variable", "value"), [
    ("HTTP_PORT", "eighty"), ("JURISDICTION_TZ", "Mars/Olympus_Mons"),
    ("METRICS_PORT", "70000"), ("LOG_LEVEL", "chatty")])
def test_invalid_settings_exit_2_with_one_line_not_a_traceback(variable: str,
                                                                value: str) -> None:
    record = refused("bidding_service", **{variable: value, "DEV_MODE": "true"})
    assert record["setting"] == variable
    assert record["event"] == "invalid_settings"


def test_metrics_port_must_not_be_the_api_port() -> None:
    record = refused("pool_service", HTTP_PORT="8081", METRICS_PORT="8081", DEV_MODE="true")
    assert record["setting"] == "METRICS_PORT"


def test_metrics_port_defaults_to_the_api_port_plus_1000() -> None:
    assert PoolSettings().operations_port == 9081
    assert BiddingSettings().operations_port == 9082
    assert BiddingSettings(http_port=8100).operations_port == 9100
    assert BiddingSettings(metrics_port=9999).operations_port == 9999


def test_jurisdiction_tz_is_an_iana_zone() -> None:
    assert PoolSettings().jurisdiction_tz == BiddingSettings().jurisdiction_tz == \
        "Asia/Shanghai"
    assert str(BiddingSettings(jurisdiction_tz="Europe/Berlin").zone) == "Europe/Berlin"
    with pytest.raises(ValueError, match="IANA"):
        PoolSettings(jurisdiction_tz="CST+8")


def test_the_bidding_service_refuses_to_start_without_its_keys() -> None:
    """trust.md 1: BID_ENCRYPTION_KEY and RECEIPT_SIGNING_KEY are required unless DEV_MODE."""
    record = refused("bidding_service", "migrate", JWT_SECRET=STRONG,
                     BID_ENCRYPTION_KEY="", RECEIPT_SIGNING_KEY="")
    assert set(record["setting"].split(", ")) == set(BIDDING_KEYS)
    code, _, _, _ = start("bidding_service", "migrate", JWT_SECRET=STRONG, DEV_MODE="true",
                          BID_ENCRYPTION_KEY="", RECEIPT_SIGNING_KEY="")
    assert code != 2  # past the guard: it fails later on the unreachable database
