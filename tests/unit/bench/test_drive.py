"""Choosing the load generator, and the round's minimum decrement in cents."""

from __future__ import annotations

import pytest

from bench import drive


def test_wrk_when_found_python_otherwise() -> None:
    assert drive.choose(None, "/usr/bin/wrk") == "wrk"
    assert drive.choose(None, None) == "python"


def test_forced_generator_wins() -> None:
    assert drive.choose("python", "/usr/bin/wrk") == "python"
    assert drive.choose("wrk", "/usr/bin/wrk") == "wrk"


def test_forcing_wrk_without_it_stops_with_how_to_install() -> None:
    with pytest.raises(SystemExit, match="scripts/bench-setup"):
        drive.choose("wrk", None)


def test_the_fallback_says_it_competes_with_the_service() -> None:
    assert drive.describe("python", None) == (
        "Python load generator (wrk not installed): its own CPU competes with the service")
    assert "forced with --loadgen python" in drive.describe("python", "python")
    assert drive.describe("wrk", None, "wrk 4.1.0") == (
        "wrk (wrk 4.1.0, Lua script bench/wrk_bids.lua)")


def test_decrement_in_cents() -> None:
    assert drive.decrement_cents(None) == 1
    assert drive.decrement_cents("0.00") == 1
    assert drive.decrement_cents("0.01") == 1
    assert drive.decrement_cents("5.00") == 500
    assert drive.decrement_cents("12.34") == 1234
