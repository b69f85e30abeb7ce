"""Storm figures as ratios to floor (a) of the same run, and the Targets rows they make."""

from __future__ import annotations

from typing import Any

import pytest

from bench import ratios, report_storm


def s(accepted: float, p99: float, per_core: float | None = None,
      generator: str = "wrk") -> dict[str, Any]:
    def m(v: float | None) -> dict[str, Any]:
        return {"median": v, "min": v, "max": v, "n": 1}
    return {"accepted_per_s": m(accepted), "latency_ms": {"p99": m(p99)},
            "per_service_core": m(per_core), "generator": generator}


def results() -> dict[str, Any]:
    return {"config": {"concurrency": [50, 200]},
            "storm": {"by_c": {"50": s(1400, 110, 700), "200": s(1000, 900, 500)}},
            "floors": {"a": {"50": s(1800, 60, 1000), "200": s(1600, 400, 1000)}},
            "processes": {"concurrency": 200, "two": s(1200, 900)}}


def test_ratio_needs_both_figures_and_a_nonzero_floor() -> None:
    assert ratios.ratio(3.0, 4.0) == 0.75
    assert ratios.ratio(None, 4.0) is None
    assert ratios.ratio(3.0, 0.0) is None
    assert ratios.ratio(3.0, None) is None


def test_compare_against_the_floor_at_the_same_c() -> None:
    got = ratios.compare(s(1400, 110, 700), s(1800, 60, 1000))
    assert got["throughput_ratio"] == pytest.approx(1400 / 1800)
    assert got["throughput_reached"] is True           # 78 % >= 70 %
    assert got["p99_ratio"] == pytest.approx(110 / 60)
    assert got["p99_reached"] is True                  # 1.83x <= 2x
    assert got["per_service_core_ratio"] == pytest.approx(0.7)


def test_targets_missed_are_missed() -> None:
    got = ratios.compare(s(1000, 900), s(1600, 400))
    assert got["throughput_reached"] is False          # 62 %
    assert got["p99_reached"] is False                 # 2.25x


def test_vs_floor_a_covers_each_c_and_the_two_processes() -> None:
    got = ratios.vs_floor_a(results())
    assert set(got["by_c"]) == {"50", "200"}
    two = got["two_processes"]
    assert two["concurrency"] == 200
    assert two["throughput_ratio"] == pytest.approx(1200 / 1600)
    assert two["p99_ratio"] == pytest.approx(900 / 400)


def test_without_a_floor_there_is_no_ratio() -> None:
    r = results()
    del r["floors"]
    assert ratios.vs_floor_a(r) == {"by_c": {}}


def test_target_rows_for_c50_and_c200_and_the_reported_two_processes() -> None:
    rows = {name: (measured, ok) for name, measured, ok in report_storm.targets(results())}
    assert rows["bid path, 1 process, C=50: accepted bids/s ≥ 70% of floor (a)'s"] == (
        "1,400 / 1,800 bids/s = 78%", True)
    assert rows["bid path, 1 process, C=50: p99 ≤ 2× floor (a)'s"] == (
        "110.0 ms vs 60.0 ms = 1.8×", True)
    assert rows["bid path, 1 process, C=200: accepted bids/s ≥ 70% of floor (a)'s"] == (
        "1,000 / 1,600 bids/s = 62%", False)
    assert rows["bid path, 1 process, C=200: p99 ≤ 2× floor (a)'s"][1] is False
    # Reported, not judged.
    assert rows["(reported) 2 bidding processes, C=200, vs floor (a)"] == (
        "1,200 / 1,600 bids/s = 75%, p99 2.2×", None)


def test_target_rows_say_not_measured_when_the_storm_did_not_run() -> None:
    rows = report_storm.targets({"config": {"concurrency": [50, 200]}})
    assert [m for _, m, _ in rows] == ["not measured"] * 4
    assert all(ok is None for _, _, ok in rows)


def test_generator_line_names_the_fallback() -> None:
    r = results() | {"loadgen": {"kind": "python", "description": "Python load generator "
                                 "(wrk not installed): its own CPU competes with the service"}}
    rows = [s(1, 1, generator="python")]
    assert report_storm.generator_line(r, rows) == (
        "Load generator (every row but pgbench's): Python load generator (wrk not "
        "installed): its own CPU competes with the service.")
    mixed = report_storm.generator_line(r, [s(1, 1, generator="python"), s(1, 1)])
    assert mixed == "Load generators differ between rows: python, wrk."
