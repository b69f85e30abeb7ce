"""The image as built: on the requested base, non-root, and nothing secret in its
history, labels or environment (its files: test_stack.py, on a container that ran)."""

from __future__ import annotations

import json
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
