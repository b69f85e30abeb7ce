"""The image as built: on the requested base, non-root, and nothing secret in its
history, labels, environment or files (the build-only CA bundle and pip settings
included)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from typing import Any

import pytest

from .conftest import APP_UID, Built, Stack, report
from .engine import Engine

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1500)]

# The image must stay small enough to pull quickly; it is ~230 MB on the Debian base.
SIZE_BUDGET_BYTES = 400_000_000


def image_config(engine: Engine, ref: str) -> dict[str, Any]:
    return dict(json.loads(engine.run("image", "inspect", ref).stdout)[0])


def test_image_is_built_on_the_base_asked_for_and_runs_as_the_app_user(
        engine: Engine, base_image: str | None, image: Built) -> None:
    config = image_config(engine, image.ref)
    assert config["Config"]["User"] == f"{APP_UID}:{APP_UID}"
    assert config["Config"]["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    if base_image is not None:
        base_layers = image_config(engine, base_image)["RootFS"]["Layers"]
        assert config["RootFS"]["Layers"][: len(base_layers)] == base_layers
    report(f"image size {image.size_bytes / 1e6:.0f} MB ({image.size_bytes} bytes)")
    assert image.size_bytes < SIZE_BUDGET_BYTES


def test_no_secret_in_history_labels_or_env(engine: Engine, image: Built, stack: Stack) -> None:
    history = engine.run("history", "--no-trunc", "--format",
                         "{{.CreatedBy}} {{.Comment}}", image.ref).stdout
    config = image_config(engine, image.ref)["Config"]
    visible = "\n".join([history, json.dumps(config.get("Labels") or {}),
                         json.dumps(config.get("Env") or [])])
    for name, value in stack.secrets.items():
        assert value not in visible, f"{name} in the image metadata"
    for env in config.get("Env") or []:
        key = env.split("=", 1)[0]
        assert not any(word in key for word in ("SECRET", "KEY", "PASSWORD", "TOKEN",
                                                "PIP_CERT", "PIP_CONFIG", "PROXY")), env
    # What the build was given as secrets is named in the history, never copied.
    assert "/run/secrets/" not in json.dumps(config)


def test_final_filesystem_has_no_build_only_files(engine: Engine, image: Built) -> None:
    """The host CA bundle (a build secret) and the build stage's helper are nowhere in the
    runtime image, byte for byte."""
    digests = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in image.build_only}
    sizes = {p.stat().st_size for p in image.build_only}
    container = engine.run("create", image.ref).stdout.strip()
    found: list[str] = []
    try:
        export = subprocess.Popen([engine.client, "export", container], env=engine.env(),
                                  stdout=subprocess.PIPE)
        assert export.stdout is not None
        names = []
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            for member in tar:
                names.append(member.name)
                if member.isfile() and member.size in sizes:
                    data = tar.extractfile(member)
                    assert data is not None
                    if hashlib.sha256(data.read()).hexdigest() in digests:
                        found.append(member.name)
        export.stdout.close()
        assert export.wait(timeout=120) == 0
    finally:
        engine.run("rm", "-f", container, check=False)
    assert not found, f"build-only files in the image: {found}"
    assert not [n for n in names if n.startswith(("run/secrets/", "src/"))
                or n.endswith("build-pip")], "build stage leftovers"
    assert any(n.startswith("opt/venv/lib/python3.11/site-packages/pool_service/")
               for n in names), "the project is not installed in the image"
