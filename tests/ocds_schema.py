"""The OCDS 1.1.5 release schema with the techniques extension, for conformance tests.

The schema is reference data of an outside standard: it is read from `$OCDS_SCHEMA_DIR`,
else from `../shared/standards/ocds-1.1.5/` beside the checkout, else from the unchanged
copy kept in `tests/standards/ocds-1.1.5/` (Apache-2.0, see its SOURCE and LICENSE) so
that a clone anywhere runs the conformance tests; a test that needs it fails (never
skips) when none holds it."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.support import ROOT

WHERE = ("the OCDS 1.1.5 schema/ folder (github.com/open-contracting/standard, tag "
         "1__1__5: release-schema.json, release-package-schema.json, "
         "record-package-schema.json) with the techniques extension in techniques-extension/ "
         "(github.com/open-contracting-extensions/ocds_techniques_extension)")


def schema_dir() -> Path:
    configured = os.environ.get("OCDS_SCHEMA_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(ROOT.parent / "shared" / "standards" / "ocds-1.1.5")
    candidates.append(ROOT / "tests" / "standards" / "ocds-1.1.5")
    for path in candidates:
        if (path / "release-schema.json").is_file() \
                and (path / "techniques-extension" / "release-schema.json").is_file():
            return path
    pytest.fail(f"OCDS schema not found in {' or '.join(map(str, candidates))}: set "
                f"OCDS_SCHEMA_DIR to a folder holding {WHERE}", pytrace=False)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


@functools.cache
def release_schema() -> dict[str, Any]:
    base = schema_dir()
    schema = json.loads((base / "release-schema.json").read_text())
    patch = json.loads((base / "techniques-extension" / "release-schema.json").read_text())
    merged: dict[str, Any] = merge_patch(schema, patch)
    return merged


@functools.cache
def _validators() -> dict[str, Draft4Validator]:
    base = schema_dir()
    release = release_schema()
    registry: Registry[Any] = Registry().with_resource(
        release["id"], Resource.from_contents(release, default_specification=DRAFT4))
    checker = Draft4Validator.FORMAT_CHECKER
    out = {"release": Draft4Validator(release, format_checker=checker, registry=registry)}
    for name in ("release-package", "record-package"):
        schema = json.loads((base / f"{name}-schema.json").read_text())
        out[name] = Draft4Validator(schema, format_checker=checker, registry=registry)
    return out


def problems(kind: str, document: Any) -> list[str]:
    """Every validation error of `document` against the `release`, `release-package` or
    `record-package` schema (amounts are parsed as Decimal: numbers to the validator)."""
    validator = _validators()[kind]
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]
