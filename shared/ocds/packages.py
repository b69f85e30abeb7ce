"""Release packages and record packages (OCDS 1.1), and the compiled release.

The compiled release is merged by `ocdsmerge` (the Open Contracting Partnership's
reference implementation of the merge rules). Its rules come from the release schema;
the service ships them, derived once from the 1.1.5 schema with the techniques
extension (`merge_rules.json`; a conformance test derives them again from the schema
and compares), so nothing is fetched at run time."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import orjson
from ocdsmerge import Merger  # type: ignore[import-untyped]

from shared.ocds.releases import EXTENSIONS, Release, dumps, loads

VERSION = "1.1"
RULES_FILE = Path(__file__).with_name("merge_rules.json")


@functools.cache
def merge_rules() -> dict[tuple[str, ...], str]:
    """The shipped merge rules, as ocdsmerge takes them."""
    rules = json.loads(RULES_FILE.read_text())["rules"]
    return {tuple(r["path"]): r["rule"] for r in rules}


def compile_release(releases: list[Release]) -> Release:
    """The compiled release of one ocid's releases (sorted by date by ocdsmerge)."""
    compiled: Release = Merger(merge_rules=merge_rules()).create_compiled_release(releases)
    return compiled


def _header(uri: str, publisher: str, published_date: str) -> dict[str, Any]:
    return {"uri": uri, "version": VERSION, "extensions": EXTENSIONS,
            "publishedDate": published_date, "publisher": {"name": publisher}}


def release_package(releases: list[str], *, uri: str, publisher: str,
                    published_date: str, next_url: str | None,
                    resume_url: str | None = None) -> bytes:
    """A release package of stored release JSON (embedded as stored: exact numbers);
    `links.next` while more releases exist, else `links.resume`: where a follower
    continues later (the same position; releases committed meanwhile come after it)."""
    body: dict[str, Any] = {
        **_header(uri, publisher, published_date),
        "releases": [orjson.Fragment(text.encode()) for text in releases],
    }
    links = {"next": next_url} if next_url is not None else \
        {"resume": resume_url} if resume_url is not None else {}
    body["links"] = links
    return orjson.dumps(body)


def record_package(ocid: str, releases: list[str], *, uri: str, publisher: str,
                   published_date: str) -> bytes:
    """A record package with one record: every release of `ocid` and its compiled release."""
    parsed = [loads(text) for text in releases]
    record = {"ocid": ocid, "releases": parsed, "compiledRelease": compile_release(parsed)}
    return dumps({**_header(uri, publisher, published_date), "records": [record]})
