"""The project's image built here and run the way compose and k8s run it: one-shot
migrate and seed, then a pool and a bidding container on the host network (loopback
only), non-root, read-only root filesystem, production settings with random secrets,
against a database and a RabbitMQ vhost of their own."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import ADMIN_DSN, AMQP_URL

from .engine import Engine, engine_session, ensure_base_image

REPO = Path(__file__).resolve().parents[2]
IMAGE = "procurement-pools:containers-test"
HOST_CA_BUNDLE = Path(os.environ.get("CONTAINERS_BUILD_CA_BUNDLE",
                                     "/etc/ssl/certs/ca-certificates.crt"))
# The image's own user (Dockerfile USER); containers run as the image says.
APP_UID = 10001

pytestmark = pytest.mark.containers


_CONFIG: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG.append(config)


def report(line: str) -> None:
    """A line on the terminal even when output is captured (timings, image size)."""
    config = _CONFIG[-1] if _CONFIG else None
    capture = config.pluginmanager.getplugin("capturemanager") if config else None
    if capture is None:
        print(f"[containers] {line}", file=sys.stderr)
        return
    with capture.global_and_fixture_disabled():
        sys.stderr.write(f"\n[containers] {line}\n")
        sys.stderr.flush()


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    started = time.monotonic()
    with engine_session() as running:
        report(f"engine {running.host} ready in {time.monotonic() - started:.1f}s")
        yield running
        if running.own:  # dangling images of earlier builds only take space
            running.run("image", "prune", "-f", check=False)
            running.run("builder", "prune", "-f", "--keep-storage", "3GB", check=False,
                        timeout=300)


@pytest.fixture(scope="session")
def base_image(engine: Engine) -> str | None:
    """Our debootstrap base on our own engine; None = the Dockerfile's upstream default."""
    if not engine.own:
        return None
    started = time.monotonic()
    tag, built = ensure_base_image(engine)
    report(f"base image {tag}: {'built' if built else 'cached'} in "
           f"{time.monotonic() - started:.1f}s")
    return tag


def _build_pip_conf(directory: Path) -> Path | None:
    """This machine's pip index/proxy settings that a build can use (http/https only),
    as a pip.conf given to the build as a secret: they never enter a layer."""
    lines = []
    index = os.environ.get("PIP_INDEX_URL", "")
    if index.startswith(("http://", "https://")):
        lines.append(f"index-url = {index}")
    extra = [u for u in os.environ.get("PIP_EXTRA_INDEX_URL", "").split()
             if u.startswith(("http://", "https://"))]
    if extra:
        lines.append("extra-index-url = " + " ".join(extra))
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy:
        lines.append(f"proxy = {proxy}")
    if not lines:
        return None
    path = directory / "pip.conf"
    path.write_text("[global]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Built:
    ref: str
    size_bytes: int
    seconds: float
    build_only: list[Path] = field(default_factory=list)  # files given as build secrets


@pytest.fixture(scope="session")
def image(engine: Engine, base_image: str | None) -> Iterator[Built]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="build-secrets-") as tmp:
        args = ["build", "--network", "host", "--progress", "plain", "--tag", IMAGE]
        build_only: list[Path] = []
        if base_image is not None:
            args += ["--build-arg", f"BASE_IMAGE={base_image}"]
        if HOST_CA_BUNDLE.is_file():
            args += ["--secret", f"id=pip_cert,src={HOST_CA_BUNDLE}"]
            build_only.append(HOST_CA_BUNDLE)
        if (conf := _build_pip_conf(Path(tmp))) is not None:
            args += ["--secret", f"id=pip_conf,src={conf}"]
        engine.run(*args, str(REPO), timeout=1200)
    size = int(engine.run("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    built = Built(IMAGE, size, time.monotonic() - started, build_only)
    report(f"image {IMAGE} built in {built.seconds:.1f}s, size {size / 1e6:.0f} MB")
    yield built


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def container_run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
async def container_database(container_run_id: str) -> AsyncIterator[str]:
    name = f"containers_{container_run_id}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = ADMIN_DSN.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}"


@pytest.fixture(scope="session")
def container_vhost(container_run_id: str) -> Iterator[str]:
    """A RabbitMQ vhost of this session: the services' default exchange and queue names
    (procurement.events, finance.awards, ...) stay private to it."""
    vhost = f"containers-{container_run_id}"
    user = AMQP_URL.split("//", 1)[1].split(":", 1)[0]
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield vhost
    finally:
        rabbitmqctl("delete_vhost", vhost)


def random_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Stack:
    """What the containers were given: URLs, secrets, ports."""

    engine: Engine
    image: Built
    tag: str
    env: dict[str, str]  # shared by every container (secrets included)
    secrets: dict[str, str]
    ports: dict[str, dict[str, int]]
    amqp_url: str
    containers: dict[str, str] = field(default_factory=dict)  # service -> container name

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]['HTTP_PORT']}"

    def service_env(self, service: str) -> dict[str, str]:
        env = {**self.env, **{k: str(v) for k, v in self.ports[service].items()}}
        if service == "bidding_service":
            env.update(ROUND_MIN_DURATION_SECONDS="1", TIMER_MAX_SLEEP_SECONDS="0.2")
        return env

    def docker_run(self, service: str, *command: str, detach: bool = False,
                   name: str | None = None) -> str:
        """`docker run` as a k8s pod spec would: host network, read-only root, no
        capabilities, no privilege escalation, the image's own (non-root) user. Values
        reach docker through its environment (`-e NAME`), never its command line."""
        env = self.service_env(service)
        args = ["run", "--network", "host", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges",
                "--label", f"procurement.test={self.tag}"]
        if detach:
            assert name, "a detached container needs a name"
            args += ["--detach", "--name", name]
        else:
            args.append("--rm")
        for key in env:
            args += ["--env", key]
        args += [self.image.ref, "python", "-m", service, *command]
        done = self.engine.run_with_env(env, *args, timeout=180)
        return done.stdout.strip()

    def logs(self, name: str) -> str:
        done = self.engine.run("logs", "--tail", "200", name, check=False)
        return done.stdout + done.stderr


@pytest.fixture(scope="session")
def stack(engine: Engine, image: Built, container_database: str, container_vhost: str,
          container_run_id: str) -> Iterator[Stack]:
    host_part = AMQP_URL.rstrip("/")
    secret_values = {"JWT_SECRET": secrets.token_urlsafe(48),  # 48 random bytes
                     "RECEIPT_SIGNING_KEY": random_key(), "BID_ENCRYPTION_KEY": random_key()}
    amqp_url = f"{host_part}/{container_vhost}"
    env = {"DATABASE_URL": container_database, "AMQP_URL": amqp_url, "DEV_MODE": "false",
           "LOG_LEVEL": "info", "HTTP_HOST": "127.0.0.1", "MIGRATE_ON_START": "false",
           "OUTBOX_POLL_SECONDS": "0.2", "DB_POOL_MIN": "1", "DB_POOL_MAX": "4",
           **secret_values}
    ports = {service: {"HTTP_PORT": free_port(), "METRICS_PORT": free_port()}
             for service in ("pool_service", "bidding_service")}
    s = Stack(engine, image, container_run_id, env, secret_values, ports, amqp_url)
    try:
        yield s
    finally:
        listed = engine.run("ps", "-aq", "--filter", f"label=procurement.test={s.tag}",
                            check=False).stdout.split()
        if listed:
            engine.run("rm", "-f", *listed, check=False, timeout=120)
