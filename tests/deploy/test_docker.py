"""The Dockerfile, .dockerignore and the container health probe."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from .support import ALL_SETTINGS, REPO

DOCKERFILE = REPO / "Dockerfile"
HEALTHCHECK = REPO / "deploy" / "docker" / "healthcheck.py"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def resolved_base_images() -> list[str]:
    args: dict[str, str] = {}
    images = []
    for keyword, rest in instructions():
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name] = value
        elif keyword == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return images


def test_base_images_are_an_exact_python_slim_bookworm_tag() -> None:
    images = resolved_base_images()
    assert images, "no FROM"
    for image in images:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), image


def test_every_stage_takes_the_base_image_argument_and_only_python3_from_it() -> None:
    """`--build-arg BASE_IMAGE=...` swaps the base of every stage (a Debian bookworm image
    made with debootstrap where Docker Hub is out of reach, see tests/containers); the
    upstream image has python3 in /usr/local/bin, Debian in /usr/bin, so no path is
    spelled out. No `# syntax=` line: it would pull a frontend image from Docker Hub."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    froms = [rest.split()[0] for keyword, rest in instructions() if keyword == "FROM"]
    assert froms and all(image == "${BASE_IMAGE}" for image in froms), froms
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "/usr/local/bin/python" not in runs and "/usr/bin/python" not in runs
    assert "python3 -m venv" in runs


def test_build_only_settings_come_as_secret_mounts_never_as_args_or_env() -> None:
    """pip's CA bundle and index/proxy settings are BuildKit secrets: nothing of them can
    reach the history (ARG values would) or the runtime stage (ENV would)."""
    found = instructions()
    for keyword, rest in found:
        if keyword in ("ARG", "ENV"):
            assert not re.search(r"PIP_(CERT|INDEX|EXTRA_INDEX|CONFIG)|PROXY", rest), rest
        if keyword == "RUN" and "pip install" in rest:
            assert "--mount=type=secret,id=pip_cert" in rest, rest
    stages = [i for i, (keyword, _) in enumerate(found) if keyword == "FROM"]
    runtime = found[stages[-1]:]
    assert not any("--mount=type=secret" in rest for _, rest in runtime)


def test_runs_as_a_numeric_non_root_user() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    uid = users[-1].split(":")[0]
    # Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
    assert uid.isdigit() and int(uid) != 0, users[-1]


def test_installs_the_project_from_pyproject() -> None:
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert re.search(r"pip install (--no-deps )?\.(\s|$)", runs), "no `pip install .`"
    assert "pyproject.toml" in runs


def test_healthcheck_probes_healthz_with_python() -> None:
    checks = [rest for keyword, rest in instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    cmd = json.loads(checks[0].split("CMD", 1)[1])
    assert cmd[0] == "python" and "/healthz" in cmd
    assert "curl" not in checks[0] and "wget" not in checks[0]


def test_exposes_both_default_ports_and_defaults_to_a_service() -> None:
    exposed = {int(port) for keyword, rest in instructions() if keyword == "EXPOSE"
               for port in rest.split()}
    defaults = {cls.model_fields["http_port"].default for cls in ALL_SETTINGS.values()}
    assert exposed == defaults
    cmd = [rest for keyword, rest in instructions() if keyword == "CMD"]
    assert cmd and json.loads(cmd[-1])[:2] == ["python", "-m"], "CMD must be exec form"


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: `*` and `?` stay within one path segment, `**` spans them."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether `path` is left out of the build context: the last pattern matching the path
    or one of its parent directories decides, `!` patterns re-include."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_what_the_build_needs_and_drops_the_rest() -> None:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    needed = ["pyproject.toml", "README.md", "shared/settings.py", "pool_service/settings.py",
              "bidding_service/settings.py", "deploy/docker/healthcheck.py"]
    for path in needed:
        assert not dockerignore_excludes(path, patterns), f"{path} is excluded"
    for path in [".git/config", "tests/unit/test_x.py", ".venv/bin/python", ".env",
                 "pool_service/__pycache__/app.cpython-311.pyc", "deploy/k8s/base/secret.yaml"]:
        assert dockerignore_excludes(path, patterns), f"{path} reaches the build context"
    # Everything the Dockerfile copies by name must be in the context.
    for keyword, rest in instructions():
        if keyword == "COPY" and "--from" not in rest:
            for source in [s for s in rest.split()[:-1] if not s.startswith("--") and s != "."]:
                assert (REPO / source).exists(), f"COPY source {source} missing"
                assert not dockerignore_excludes(source, patterns), f"{source} is excluded"


def test_image_ships_the_services_data_files() -> None:
    """`pip install .` puts only package data matched by pyproject into the image: every
    non-Python file of the services' packages (migrations, seed data) must be matched."""
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["package-data"]
    data_files = [p for top in ("shared", *ALL_SETTINGS) for p in (REPO / top).rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc")
                  and "__pycache__" not in p.parts]
    assert any(p.suffix == ".sql" for p in data_files), "no migrations found"
    for path in data_files:
        rel = path.relative_to(REPO)
        packages = [rel.parts[:i] for i in range(1, len(rel.parts))]
        assert any(
            fnmatch.fnmatchcase("/".join(rel.parts[len(pkg):]), pattern)
            for pkg in packages
            for key in ("*", ".".join(pkg))
            for pattern in package_data.get(key, [])
        ), f"{rel} would be missing from the image (not in [tool.setuptools.package-data])"


def test_healthcheck_defaults_match_the_settings() -> None:
    namespace: dict[str, object] = {"__name__": "healthcheck"}
    exec(compile(HEALTHCHECK.read_text(encoding="utf-8"), str(HEALTHCHECK), "exec"), namespace)
    assert namespace["DEFAULT_PORTS"] == {
        module: cls.model_fields["http_port"].default for module, cls in ALL_SETTINGS.items()
    }


class _Handler(BaseHTTPRequestHandler):
    status_for: ClassVar[dict[str, int]] = {"/healthz": 200, "/readyz": 503}

    def do_GET(self) -> None:
        self.send_response(self.status_for.get(self.path, 404))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # silence
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("path", "code"), [("/healthz", 0), ("/readyz", 1), ("/nope", 1)])
def test_healthcheck_script_exit_code_follows_the_http_status(
    http_port: int, path: str, code: int
) -> None:
    result = subprocess.run(
        [sys.executable, str(HEALTHCHECK), path],
        env={"HTTP_PORT": str(http_port), "PATH": "/usr/bin:/bin"},
        capture_output=True, timeout=30, check=False,
    )
    assert result.returncode == code, result.stderr


def test_healthcheck_script_fails_when_nothing_listens() -> None:
    result = subprocess.run(
        [sys.executable, str(HEALTHCHECK), "/healthz"],
        env={"HTTP_PORT": "1"}, capture_output=True, timeout=30, check=False,
    )
    assert result.returncode == 1
    assert Path(HEALTHCHECK).stat().st_mode & 0o111, "healthcheck.py should be executable"
