"""The peak phase's pure parts: per-round figures, the checks, the metric scrape, and the
issue's target rows built from them."""

from __future__ import annotations

from typing import Any

import pytest

from bench.peak import metric_value, summarise
from bench.targets import close_rows, peak_rows, rss_row, timer_row


def row(i: int, **over: Any) -> dict[str, Any]:
    base = {"status": "awarded", "closes_at": 1000.0, "awards": 1, "closed_events": 1,
            "closed": 1000.0 + i / 1000, "written": 1000.0 + 2 * i / 1000,
            "confirmed": 1000.0 + 3 * i / 1000, "received": 1000.0 + 4 * i / 1000,
            "event_ids": [f"e{i}"]}
    return base | over


def test_summarise_gives_nearest_rank_percentiles_in_ms_from_closes_at() -> None:
    s = summarise([row(i) for i in range(1, 101)])
    assert s["received_ms"] == {"p50": 200.0, "p90": 360.0, "p99": 396.0, "max": 400.0,
                                "n": 100}
    assert s["closed_ms"]["p99"] == 99.0
    assert (s["left_open"], s["redeliveries"], s["awards_ok"]) == (0, 0, True)
    assert s["statuses"] == {"awarded": 100}


def test_summarise_flags_a_round_left_open_a_double_award_and_a_missing_event() -> None:
    rows = [row(1), row(2, status="open", awards=0, closed=None, written=None,
                        confirmed=None, received=None, event_ids=[]),
            row(3, awards=2), row(4, event_ids=["a", "a"])]
    s = summarise(rows)
    assert s["left_open"] == 1
    assert s["not_one_award"] == 2
    assert s["not_one_event_received"] == 1
    assert s["redeliveries"] == 1  # the same event id twice is a redelivery, not two events
    assert s["received_ms"]["n"] == 3
    assert s["awards_ok"] is False


def test_two_distinct_award_events_for_one_round_are_not_one_award() -> None:
    s = summarise([row(1, event_ids=["a", "b"])])
    assert (s["not_one_event_received"], s["redeliveries"], s["awards_ok"]) == (1, 0, False)


def test_metric_value_reads_the_labelled_sample_and_defaults_to_zero() -> None:
    text = ("# HELP round_timer_lateness_seconds x\n"
            'round_timer_lateness_seconds_bucket{action="close",le="0.005"} 3.0\n'
            'round_timer_lateness_seconds_count{action="close"} 17.0\n'
            'round_timer_lateness_seconds_count{action="expire"} 2.0\n')
    assert metric_value(text, 'round_timer_lateness_seconds_count{action="close"}') == 17.0
    assert metric_value(text, 'round_timer_lateness_seconds_count{action="open"}') == 0.0


def _peak(rounds: int, bidders: int, p99: float, ok: bool = True) -> dict[str, Any]:
    run = {"received_ms": {"p99": p99, "max": p99 + 1, "n": rounds}, "awards_ok": ok,
           "left_open": 0}
    return {"peak": {"rounds": rounds, "bidders": bidders, "all_up": run, "killed": run}}


@pytest.mark.parametrize(("rounds", "bidders", "p99", "ok", "want"), [
    (100, 100, 149.0, True, True),
    (100, 100, 151.0, True, False),
    (100, 100, 20.0, False, False),   # fast but not exactly one award each: missed
    (30, 50, 20.0, True, None),       # met at a smaller scale decides nothing
    (30, 50, 700.0, True, False),     # missed already at a smaller scale
])
def test_peak_rows_judge_the_target_at_its_scale(rounds: int, bidders: int, p99: float,
                                                 ok: bool, want: bool | None) -> None:
    rows = peak_rows(_peak(rounds, bidders, p99, ok))
    assert [r[2] for r in rows] == [want, want]


def _close(received: dict[int, float]) -> dict[str, Any]:
    return {"close": {"by_n": {str(n): {"received_ms": {"median": ms, "max": ms, "n": 1}}
                               for n, ms in received.items()}}}


def test_close_rows_judge_2k_100k_and_linearity() -> None:
    rows = close_rows(_close({1000: 20.0, 2000: 40.0, 10_000: 150.0, 100_000: 1900.0}))
    assert [r[2] for r in rows] == [True, True, True]
    assert "largest ÷ smallest 0.95" in rows[2][1]
    worse = close_rows(_close({1000: 20.0, 2000: 60.0, 100_000: 2500.0}))
    assert [r[2] for r in worse] == [False, False, False]


def test_linearity_without_the_100k_size_is_not_decided() -> None:
    rows = close_rows(_close({1000: 20.0, 2000: 30.0, 10_000: 400.0}))
    assert rows[1] == ("3. one round of 100,000 bidders: received ≤ 2,000 ms after closes_at",
                       "not measured", None)
    assert rows[2][2] is None


def test_timer_row_needs_5000_open_rounds_to_be_met() -> None:
    def timer(open_rounds: int, p99: float) -> dict[str, Any]:
        return {"timer": {"open_rounds": open_rounds,
                          "lateness_ms": {"p50": 3.0, "p99": p99, "max": 90.0, "n": 600}}}
    assert timer_row(timer(5000, 40.0))[2] is True
    assert timer_row(timer(5000, 60.0))[2] is False
    assert timer_row(timer(1000, 40.0))[2] is None
    assert timer_row(timer(1000, 60.0))[2] is False
    assert timer_row({})[1] == "not measured"


def test_rss_row_counts_service_processes_only() -> None:
    peaks = {"bidding-1": 140 * 1024, "pool-service": 100 * 1024, "floor-a": 400 * 1024}
    _name, text, ok = rss_row(peaks, full_close=True)
    assert ok is True
    assert "floor-a" not in text
    assert rss_row({"bidding-1": 151 * 1024}, full_close=False)[2] is False
    assert rss_row({"bidding-1": 100 * 1024}, full_close=False)[2] is None
