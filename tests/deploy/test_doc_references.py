"""The documents point at tests that show each claim: every such pointer must lead to a
test that exists (a renamed or deleted test makes the claim unsupported)."""

from __future__ import annotations

import re

import pytest

from tests.support import ROOT

DOCUMENTS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"])
POINTER = re.compile(r"`?(tests/[\w/]+\.py)(?:::(\w+))?`?")


def pointers() -> list[tuple[str, str, str | None]]:
    found = []
    for doc in DOCUMENTS:
        text = doc.read_text(encoding="utf-8")
        for match in POINTER.finditer(text):
            found.append((doc.name, match.group(1), match.group(2)))
    return found


def test_the_documents_point_at_tests() -> None:
    assert len(pointers()) >= 10  # the threat model alone names more


@pytest.mark.parametrize(("doc", "path", "name"), pointers())
def test_each_pointer_leads_to_an_existing_test(doc: str, path: str, name: str | None) -> None:
    target = ROOT / path
    assert target.is_file(), f"{doc} names {path}, which does not exist"
    if name is not None:
        source = target.read_text(encoding="utf-8")
        assert re.search(rf"^(async )?def {name}\b", source, re.M), \
            f"{doc} names {path}::{name}, which does not exist"
