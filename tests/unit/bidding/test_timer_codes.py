"""The timer's failure codes carry no data: a SQLSTATE or a class name, never a message."""

from __future__ import annotations

import asyncpg

from bidding_service.rounds.timer import failure_code


def test_a_database_error_is_reduced_to_its_sqlstate() -> None:
    exc = asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout")
    assert failure_code(exc) == "sqlstate-57014"


def test_any_other_error_is_reduced_to_its_class_name() -> None:
    secret = "supplier 5f0c0c2e-0000-4000-8000-000000000000 bid 123.45"
    code = failure_code(ValueError(secret))
    assert code == "ValueError"
    assert "5f0c" not in code and "123.45" not in code
