"""A Docker engine of the test suite's own, and a Debian bookworm base image made here.

Docker Hub is not needed: `debootstrap` builds a bookworm root filesystem from a Debian
mirror (DEBIAN_MIRROR, default deb.debian.org) and `docker import` turns it into the base
image, tagged with a hash of its recipe so it is rebuilt only when the recipe changes.
The engine (`dockerd`, vfs storage, no bridge, no iptables) keeps its socket and data
root under a cache directory (PROCUREMENT_DOCKER_CACHE, default
`${XDG_CACHE_HOME:-~/.cache}/procurement-pools/docker`) and is stopped by its PID at
the end. A file lock lets only one test session use that engine at a time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# The base image's recipe: everything here is hashed into the image tag.
BASE_SUITE = "bookworm"
BASE_VARIANT = "minbase"
BASE_PACKAGES = ("python3", "python3-venv")
BASE_CLEANUP = (
    "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb"
    " /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/*"
    " /var/log/*.log /var/log/apt/* /tmp/* /root/.cache"
)
BASE_CHANGES = ('ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                'ENV LANG=C.UTF-8', 'CMD ["python3"]')
BASE_REPOSITORY = "procurement-pools-base"

DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap",
                "docker-compose": "docker-compose"}


def cache_dir() -> Path:
    if configured := os.environ.get("PROCUREMENT_DOCKER_CACHE"):
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "procurement-pools" / "docker"


def base_recipe() -> str:
    return json.dumps({"suite": BASE_SUITE, "variant": BASE_VARIANT,
                       "packages": BASE_PACKAGES, "cleanup": BASE_CLEANUP,
                       "changes": BASE_CHANGES}, sort_keys=True)


def base_tag() -> str:
    digest = hashlib.sha256(base_recipe().encode()).hexdigest()[:12]
    return f"{BASE_REPOSITORY}:{BASE_SUITE}-py311-{digest}"


def is_root() -> bool:
    return os.geteuid() == 0


def install_missing(tools: tuple[str, ...]) -> None:
    """apt-get install the Debian packages providing `tools` that are not on PATH."""
    missing = sorted({APT_PACKAGES[t] for t in tools if shutil.which(t) is None})
    if not missing:
        return
    if not is_root() or shutil.which("apt-get") is None:
        pytest.skip(f"containers: {', '.join(missing)} missing and cannot be installed "
                    "(needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", *missing]):
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=900, check=False)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}"


@dataclass
class Engine:
    """A running Docker engine and the client that talks to it."""

    client: str
    host: str
    own: bool  # started by this session (vfs, host network only)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "1"}
        env.pop("DOCKER_CONTEXT", None)
        return env

    def run(self, *args: str, timeout: float = 120, check: bool = True,
            ) -> subprocess.CompletedProcess[str]:
        return self.run_with_env({}, *args, timeout=timeout, check=check)

    def run_with_env(self, extra: dict[str, str], *args: str, timeout: float = 120,
                     check: bool = True) -> subprocess.CompletedProcess[str]:
        """`docker ARGS` with `extra` in the client's environment (for `--env NAME`)."""
        done = subprocess.run([self.client, *args], env={**self.env(), **extra},
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check:
            assert done.returncode == 0, (
                f"docker {' '.join(args)[:300]} -> {done.returncode}:\n"
                f"{done.stdout[-4000:]}{done.stderr[-4000:]}")
        return done

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0


def _client_for(dockerd: str) -> str:
    """The client shipped with the engine (same version); another one only if it is absent."""
    beside = Path(dockerd).resolve().parent.parent / "bin" / "docker"
    for candidate in (beside, Path("/usr/bin/docker")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("docker")
    assert found, "no docker client"
    return found


def _existing_engine() -> Engine | None:
    """An engine the user already runs (DOCKER_HOST or the default socket), if reachable."""
    client = shutil.which("docker")
    if client is None:
        return None
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    probe = subprocess.run([client, "info"], env={**os.environ, "DOCKER_HOST": host},
                           capture_output=True, timeout=30, check=False)
    return Engine(client, host, own=False) if probe.returncode == 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_pid(pid: int, timeout: float = 30) -> None:
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


@contextmanager
def engine_session() -> Iterator[Engine]:
    """Our own dockerd as root (installing docker.io if needed); otherwise an engine the
    user already runs; otherwise a skip that says why."""
    if not is_root():
        existing = _existing_engine()
        if existing is None:
            pytest.skip("containers: not root, so no dockerd of our own, and no Docker "
                        "engine reachable (DOCKER_HOST or /var/run/docker.sock)")
        yield existing
        return
    install_missing(("dockerd", "debootstrap"))
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lock").open("w") as lock:
        # One session at a time per cache directory (the data root is the engine's alone).
        fcntl.flock(lock, fcntl.LOCK_EX)
        pidfile = root / "dockerd.pid"
        socket = root / "docker.sock"
        if pidfile.exists():  # left behind by a session that died: it is ours, by path
            stale = int(pidfile.read_text().strip() or 0)
            if stale and str(socket) in " ".join(_cmdline(stale)):
                _stop_pid(stale)
            pidfile.unlink(missing_ok=True)
        dockerd = shutil.which("dockerd")
        assert dockerd
        log = (root / "dockerd.log").open("wb")
        proc = subprocess.Popen(
            [dockerd, "--storage-driver", "vfs", "--iptables=false", "--ip6tables=false",
             "--bridge=none", "--data-root", str(root / "data"),
             "--exec-root", str(root / "exec"), "--pidfile", str(pidfile),
             "--host", f"unix://{socket}", "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        engine = Engine(_client_for(dockerd), f"unix://{socket}", own=True)
        try:
            deadline = time.monotonic() + 120
            while engine.run("version", check=False, timeout=30).returncode != 0:
                log_tail = (root / "dockerd.log").read_text(errors="replace")[-3000:]
                assert proc.poll() is None, f"dockerd exited {proc.returncode}: {log_tail}"
                assert time.monotonic() < deadline, "dockerd did not answer in 120 s"
                time.sleep(0.5)
            yield engine
        finally:
            proc.send_signal(signal.SIGTERM)  # by PID: the dockerd started above
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            log.close()
            # dockerd leaves its default network namespace mounted under its exec root.
            netns = root / "exec" / "netns" / "default"
            if netns.exists() and os.path.ismount(netns):
                subprocess.run(["umount", str(netns)], capture_output=True, timeout=30,
                               check=False)


def debian_mirror() -> str:
    return os.environ.get("DEBIAN_MIRROR", DEFAULT_MIRROR)


def ensure_base_image(engine: Engine) -> tuple[str, bool]:
    """The bookworm + Python 3.11 base image: (tag, whether it was built just now)."""
    tag = base_tag()
    if engine.has_image(tag):
        return tag, False
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir()))
    try:
        rootfs = work / "rootfs"
        done = subprocess.run(
            ["debootstrap", f"--variant={BASE_VARIANT}", f"--include={','.join(BASE_PACKAGES)}",
             BASE_SUITE, str(rootfs), debian_mirror()],
            capture_output=True, text=True, timeout=1200, check=False)
        assert done.returncode == 0, (
            f"debootstrap failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        subprocess.run(["chroot", str(rootfs), "sh", "-c", BASE_CLEANUP], check=True,
                       capture_output=True, timeout=120)
        # The image must not keep the mirror the machine used or anything of the host.
        (rootfs / "etc" / "apt" / "sources.list").write_text(
            f"deb {DEFAULT_MIRROR} {BASE_SUITE} main\n")
        for leftover in ("etc/hostname", "etc/resolv.conf"):
            (rootfs / leftover).unlink(missing_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        changes = [arg for change in BASE_CHANGES for arg in ("--change", change)]
        imported = subprocess.run(
            [engine.client, "import", *changes,
             "--message", f"debootstrap {BASE_VARIANT} {BASE_SUITE} + {' '.join(BASE_PACKAGES)}",
             "-", tag], stdin=tar.stdout, env=engine.env(), capture_output=True, text=True,
            timeout=600, check=False)
        assert tar.stdout is not None
        tar.stdout.close()
        assert tar.wait(timeout=60) == 0, "tar of the root filesystem failed"
        assert imported.returncode == 0, imported.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Older bases (other recipes) only take space.
    listed = engine.run("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", BASE_REPOSITORY)
    for old in listed.stdout.split():
        if old != tag:
            engine.run("image", "rm", old, check=False)
    return tag, True
