"""Shared helpers for the deployment tests: paths, YAML loading, kustomize."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from bidding_service.settings import BiddingSettings
from pool_service.settings import PoolSettings
from portal.settings import PortalSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUSTOMIZATIONS = [K8S / "base", K8S / "overlays" / "dev", K8S / "overlays" / "prod"]

# The service modules, their settings and the subcommands the deployment runs.
SETTINGS: dict[str, type[BaseSettings]] = {
    "pool_service": PoolSettings,
    "bidding_service": BiddingSettings,
}
SUBCOMMANDS = {"pool_service": {"migrate", "seed"}, "bidding_service": {"migrate"}}
# The read-only portal: no database, no migrations, no token, no /metrics; its own tests.
PORTAL = "portal"
ALL_SETTINGS: dict[str, type[BaseSettings]] = {**SETTINGS, PORTAL: PortalSettings}

Doc = dict[str, Any]


def load_docs(path: Path) -> list[Doc]:
    """Every non-empty YAML document of a file."""
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def load_one(path: Path) -> Doc:
    docs = load_docs(path)
    assert len(docs) == 1, f"{path}: expected one YAML document, got {len(docs)}"
    return docs[0]


def service_command(command: list[str]) -> tuple[str, str | None]:
    """Split `python -m <service> [subcommand]` into (service, subcommand); assert the form."""
    assert command[:2] == ["python", "-m"], f"not `python -m ...`: {command}"
    assert 3 <= len(command) <= 4, f"unexpected arguments: {command}"
    module = command[2]
    assert module in ALL_SETTINGS, f"unknown service module {module!r} in {command}"
    sub = command[3] if len(command) == 4 else None
    assert sub is None or sub in SUBCOMMANDS.get(module, set()), \
        f"{module} has no subcommand {sub!r}"
    return module, sub


def assert_settings_fields(module: str, names: set[str], where: str) -> None:
    """Every environment variable name is a field of that service's settings."""
    fields = ALL_SETTINGS[module].model_fields
    unknown = sorted(name for name in names if name.lower() not in fields)
    assert not unknown, f"{where}: not fields of {ALL_SETTINGS[module].__name__}: {unknown}"


def kustomization(directory: Path) -> Doc:
    return load_one(directory / "kustomization.yaml")


def kustomize_resource_files(directory: Path) -> Iterator[Path]:
    """The manifest files a kustomization pulls in (recursively), patches excluded."""
    for entry in kustomization(directory).get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            yield from kustomize_resource_files(target)
        else:
            yield target


def kustomize_binary() -> list[str] | None:
    """A command that renders a kustomization directory, if one is installed."""
    if path := shutil.which("kustomize"):
        return [path, "build"]
    if path := shutil.which("kubectl"):
        return [path, "kustomize"]
    return None


def render(directory: Path) -> list[Doc]:
    binary = kustomize_binary()
    assert binary is not None
    result = subprocess.run(
        [*binary, str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kustomize failed for {directory}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def containers(doc: Doc) -> list[Doc]:
    """Containers and init containers of a Deployment or Job."""
    pod = doc["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]
