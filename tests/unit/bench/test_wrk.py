"""The pure parts of the wrk driver: supplier slices, threads, the Lua summary, merged
percentiles and the figures made of wrk's summaries."""

from __future__ import annotations

import json

import pytest

from bench import wrk


def summary(counts: dict[str, int], *, duration_us: int = 2_000_000,
            grid: dict[float, float] | None = None, errors: dict[str, int] | None = None,
            mean: float = 1000.0, top: float = 9000.0) -> dict[str, object]:
    requests = sum(counts.values())
    return {"threads": 2, "duration_us": duration_us, "requests": requests, "bytes": 1,
            "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0,
                       **(errors or {})},
            "counts": counts, "repeats": 3, "repeats_answered": 2, "repeats_refused": 2,
            "not_deliberate": 0, "overlaps": 0, "unmatched": 0, "in_flight_at_end": 5,
            "latency_us": {"min": 100, "max": top, "mean": mean, "count": requests,
                           "percentiles": grid or {50.0: 1000.0, 90.0: 2000.0,
                                                   99.0: 5000.0}}}


def test_split_is_round_robin_disjoint_and_complete() -> None:
    items = list(range(10))
    parts = wrk.split(items, 3)
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(x for p in parts for x in p) == items


def test_split_refuses_zero_parts() -> None:
    with pytest.raises(ValueError):
        wrk.split([1, 2], 0)


def test_threads_divide_connections_evenly() -> None:
    assert wrk.threads_for(50, 1000) == 2
    assert wrk.threads_for(100, 500) == 2
    assert wrk.threads_for(25, 1000) == 1      # 25 is odd: one thread
    assert wrk.threads_for(1, 10) == 1


def test_threads_need_more_suppliers_than_connections_per_thread() -> None:
    # 2 threads of 100 connections, 100 suppliers each: a supplier would be reused while
    # its previous bid is still in flight.
    with pytest.raises(ValueError, match="not more than 100"):
        wrk.threads_for(200, 200)
    assert wrk.threads_for(200, 202) == 2


def test_parse_summary_reads_the_marked_line_after_wrks_report() -> None:
    line = {"threads": 2, "duration_us": 3_000_000, "requests": 10,
            "counts": {"201": 9, "422 bid-not-lower": 1},
            "latency_us": {"min": 1, "max": 9, "mean": 2.5, "count": 10,
                           "percentiles": {"50": 2, "99.9": 8}}}
    out = ("Running 3s test @ http://127.0.0.1:1/v1/rounds/x/bids\n"
           "  2 threads and 50 connections\nRequests/sec:   3.33\n"
           f"BENCH-WRK {json.dumps(line)}\n")
    parsed = wrk.parse_summary(out)
    assert parsed["counts"] == {"201": 9, "422 bid-not-lower": 1}
    assert parsed["latency_us"]["percentiles"] == {50.0: 2.0, 99.9: 8.0}


def test_parse_summary_without_the_line_says_so() -> None:
    with pytest.raises(ValueError, match="no BENCH-WRK line"):
        wrk.parse_summary("Running 3s test\nwrk_bids.lua:12: attempt to index nil\n")


def test_merged_percentile_of_one_run_is_its_own_value() -> None:
    grid = {50.0: 1000.0, 90.0: 2000.0, 99.0: 5000.0, 100.0: 9000.0}
    for q, v in grid.items():
        assert wrk.merged_percentile([(400, grid)], q) == v


def test_merged_percentile_weights_runs_by_their_requests() -> None:
    fast = {float(p): float(p) for p in range(1, 101)}          # 1..100 us
    slow = {float(p): 1000.0 + p for p in range(1, 101)}        # 1001..1100 us
    # Equal counts: the median is the fast run's top, p99 within the slow run.
    assert wrk.merged_percentile([(100, fast), (100, slow)], 50) == 100.0
    assert wrk.merged_percentile([(100, fast), (100, slow)], 99) == 1098.0
    # Three times as many fast requests: p75 is still fast, p80 is slow.
    assert wrk.merged_percentile([(300, fast), (100, slow)], 75) == 100.0
    assert wrk.merged_percentile([(300, fast), (100, slow)], 80) == 1020.0


def test_merged_percentile_of_nothing_is_none() -> None:
    assert wrk.merged_percentile([(0, {50.0: 1.0})], 50) is None


def test_figures_sort_answers_into_accepted_refused_and_errors() -> None:
    s = summary({"201": 900, "422 bid-not-lower": 18, "503 unavailable": 2},
                errors={"timeout": 1, "status": 20})
    cpu = {"loadgen": 0.2, "bidding-1": 1.4, "postgres": 1.0, "machine_busy": 3.8,
           "machine_capacity": 4.0}
    fig = wrk.figures([s], cpu, wall=2.0, concurrency=50)
    assert fig["generator"] == "wrk"
    assert fig["accepted"] == 900
    assert fig["accepted_per_s"] == pytest.approx(450.0)
    assert fig["requests_per_s"] == pytest.approx(460.0)
    assert fig["refused"] == {"422 bid-not-lower": 18}
    assert fig["refused_per_s"] == {"422 bid-not-lower": pytest.approx(9.0)}
    # wrk's own "status" count (answers >= 400) is not an error of its own.
    assert fig["errors"] == {"503 unavailable": 2, "socket timeout": 1}
    assert fig["latency_ms"] == {"p50": 1.0, "p90": 2.0, "p99": 5.0, "max": 9.0,
                                 "mean": 1.0}
    assert fig["cpu_cores"] == {"loadgen": 0.1, "bidding-1": 0.7, "postgres": 0.5,
                                "machine_busy": 1.9}
    assert fig["checks"]["repeats_refused"] == 2
    assert fig["checks"]["repeats_answered"] == 2


def test_figures_of_two_processes_are_summed() -> None:
    a = summary({"201": 1000}, mean=1000.0, top=4000.0)
    b = summary({"201": 600, "422 bid-not-lower": 10}, duration_us=2_000_000,
                mean=2000.0, top=7000.0,
                grid={50.0: 1500.0, 90.0: 3000.0, 99.0: 6000.0})
    fig = wrk.figures([a, b], {"machine_busy": 2.0}, wall=2.0, concurrency=200)
    assert fig["targets"] == 2
    assert fig["accepted_per_s"] == pytest.approx(800.0)
    assert fig["requests"] == 1610
    assert fig["latency_ms"]["max"] == 7.0
    assert fig["latency_ms"]["mean"] == pytest.approx((1000 * 1 + 610 * 2) / 1610, abs=0.01)
    assert fig["checks"]["repeats"] == 6
