"""docker-compose.yml checked by an outside validator: Debian's `docker-compose` (1.29),
whose `config` validates against the Compose specification schema it ships. The file
also has to stay valid for Compose v2, so it uses nothing 1.29 would reject (such as
the top-level `name:`)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml  # type: ignore[import-untyped]

from .conftest import REPO
from .engine import install_missing

pytestmark = pytest.mark.containers


def compose_config(*args: str) -> subprocess.CompletedProcess[str]:
    install_missing(("docker-compose",))
    binary = shutil.which("docker-compose")
    assert binary
    # Values the file takes from the environment; a placeholder is enough to validate.
    env = {**os.environ, "JWT_SECRET": "validator-placeholder-" + "x" * 32,
           "BID_ENCRYPTION_KEY": "validator-placeholder",
           "RECEIPT_SIGNING_KEY": "validator-placeholder"}
    env.pop("COMPOSE_FILE", None)
    return subprocess.run([binary, "--project-directory", str(REPO), "-f",
                           str(REPO / "docker-compose.yml"), "config", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_docker_compose_1_29_validates_the_compose_file() -> None:
    done = compose_config("--quiet")
    assert done.returncode == 0, done.stderr


def test_validated_file_has_the_services_and_builds_the_image() -> None:
    done = compose_config()
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    services = resolved["services"]
    assert {"pool-service", "bidding-service", "pool-migrate", "bidding-migrate",
            "seed"} <= set(services)
    for name in ("pool-service", "bidding-service"):
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
