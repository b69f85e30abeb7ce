"""The project stands alone: a clone anywhere works, so nothing in it names a path of
the machine it was written on or a contract folder beside the checkout."""

from __future__ import annotations

from pathlib import Path

from .support import REPO

# Spelled in pieces so that this file does not name them itself.
FORBIDDEN = ["/" + "work/", ".." + "/shared", "shared" + "/spec", "SPEC" + "_DIR"]
SKIPPED_DIRS = {"__pycache__", "node_modules", "tmp"}
# The one outside folder a test may read: the OCDS schema (reference data of an outside
# standard, tests/ocds_schema.py), and only as a fallback of $OCDS_SCHEMA_DIR.
OCDS_SCHEMA_FALLBACK = ".." + "/shared/standards/ocds-1.1.5"


def project_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        parts = path.relative_to(REPO).parts
        if any(p.startswith(".") or p.endswith(".egg-info") or p in SKIPPED_DIRS
               for p in parts):
            continue
        if path.is_file() and path.stat().st_size < 20_000_000:
            files.append(path)
    return files


def test_no_machine_paths_or_outside_contracts_anywhere() -> None:
    files = project_files()
    assert len(files) > 100
    offending = []
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        text = text.replace(OCDS_SCHEMA_FALLBACK, "")
        offending += [f"{path.relative_to(REPO)}: {needle}" for needle in FORBIDDEN
                      if needle in text]
    assert not offending, offending
