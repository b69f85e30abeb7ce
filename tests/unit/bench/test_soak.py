"""The soak's verdict from raw figures: RSS trend per process, lost bids, the checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bench.soak_report import lost_bids, markdown, rss_trend, verdict


def test_rss_trend_fits_after_the_warm_up_per_process() -> None:
    # Rises fast during its first minute, then 1 MB more per minute.
    samples = [(0.0, 50 * 1024), (30.0, 80 * 1024)] + [
        (60.0 + 30 * i, 90 * 1024 + 512 * i) for i in range(5)]
    t = rss_trend({"bidding-1": samples, "bidding-2.1": [(100.0, 70 * 1024)]})
    assert t["bidding-1"]["slope_mb_per_min"] == pytest.approx(1.0)
    assert (t["bidding-1"]["first_mb"], t["bidding-1"]["max_mb"]) == (50.0, 92.0)
    assert t["bidding-1"]["minutes"] == 3.0
    assert t["bidding-2.1"]["slope_mb_per_min"] is None  # too short to tell


def test_lost_bids_finds_missing_rows_and_a_wrong_last_amount() -> None:
    accepted = {"r1": {"s1": [("b1", Decimal("900.00")), ("b2", Decimal("850.00"))],
                       "s2": [("b3", Decimal("700.00"))]},
                "r2": {"s1": [("b4", Decimal("600.00"))]}}
    ranking = {"r1": {"s1": Decimal("850"), "s2": Decimal("710.00")}}  # r2 not read
    out = lost_bids(accepted, stored={"b1", "b2", "b4"}, ranking=ranking)
    assert (out["accepted"], out["missing_in_database"], out["missing_ids"]) == (4, 1, ["b3"])
    assert out["ranking_rounds"] == 1
    assert out["ranking_mismatches"] == 1
    assert out["ranking_mismatch_samples"] == ["r1/s2: accepted 700.00, ranking 710.00"]


def test_lost_bids_counts_a_supplier_missing_from_the_ranking() -> None:
    out = lost_bids({"r1": {"s1": [("b1", Decimal("5"))]}}, {"b1"}, {"r1": {}})
    assert out["ranking_mismatches"] == 1


def _result(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "started": "2026-12-01 10:00:00 +0000", "git": "abc1234", "minutes": 3.0,
        "elapsed_s": 200.0, "errors": {}, "deliberate": {"bid 409 round-not-open": 4},
        "answers": {"bid 201": 100, "bid 409 round-not-open": 4}, "error_samples": [],
        "restarts": [{"process": "bidding-2", "exit_code": 0, "down_to_ready_s": 2.1,
                      "at_s": 60.0}],
        "rss": rss_trend({"bidding-1": [(60.0 * i, 90 * 1024) for i in range(5)]}),
        "hwm_kb": {"bidding-1": 95 * 1024}, "left_open": 0,
        "lost": lost_bids({"r1": {"s1": [("b1", Decimal("5"))]}}, {"b1"},
                          {"r1": {"s1": Decimal("5")}}),
        "drain": {"outbox": {"bidding": 0, "pool": 0}, "outbox_total": 0,
                  "queues": {"q.finance": 0}},
        "processes": {"restart_target": "bidding-2", "restart_every_s": 60.0},
        "counts": {"price_rounds": 10, "fixed_rounds": 20,
                   "price_statuses": {"accepted": 8, "reawarded": 2}}}
    return base | over


def test_verdict_of_a_clean_soak_meets_every_check() -> None:
    rows = verdict(_result())
    assert [ok for _, _, ok in rows] == [True, True, True, True, True]
    assert rows[-1][1] == "+0.000 MB/min over 4.0 min"
    text = markdown(_result())
    assert "| bid 409 round-not-open | 4 | deliberate |" in text
    assert "NO" not in text


def test_verdict_fails_on_an_error_a_queue_left_and_a_growing_rss() -> None:
    growing = rss_trend({"bidding-1": [(60.0 * i, 90 * 1024 + 512 * i) for i in range(6)]})
    rows = verdict(_result(
        errors={"bid 500": 1}, rss=growing,
        drain={"outbox": {"bidding": 0, "pool": 0}, "outbox_total": 0,
               "queues": {"q.finance": 3}}))
    by = {name.split(" ")[0] + name.split(" ")[1]: ok for name, _, ok in rows}
    assert by == {"0errors": False, "0lost": True, "noround": True, "outboxand": False,
                  "RSSflat": False}
