"""Migration numbers are handed out to parallel branches: one may be absent for a while
(shared 0003 before 0002 lands), but two files may never share a number."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.migrations import SHARED_MIGRATIONS, load_migrations


def test_a_missing_number_is_allowed_and_order_kept(tmp_path: Path) -> None:
    for name in ("0003_c.sql", "0001_a.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    assert [m.version for m in load_migrations("x", tmp_path)] == [1, 3]


def test_two_files_with_one_number_are_refused(tmp_path: Path) -> None:
    for name in ("0001_a.sql", "0002_b.sql", "0002_c.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(ValueError, match="distinct"):
        load_migrations("x", tmp_path)


def test_the_audit_chain_migration_is_shared() -> None:
    assert 3 in [m.version for m in load_migrations("shared", SHARED_MIGRATIONS)]
