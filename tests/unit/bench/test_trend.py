"""Least-squares slope (RSS trend) and the close's cost per bid across sizes."""

from __future__ import annotations

import math

import pytest

from bench.trend import rss_slope_mb_per_min, scaling, slope


def test_slope_of_an_exact_line() -> None:
    assert slope([0, 1, 2, 3], [5, 7, 9, 11]) == pytest.approx(2.0)


def test_slope_fits_noise_by_least_squares() -> None:
    # y = x + (+1, -1, -1, +1): the symmetric noise leaves the slope at 1.
    assert slope([0, 1, 2, 3], [1, 0, 1, 4]) == pytest.approx(1.0)


def test_slope_needs_two_distinct_xs() -> None:
    assert slope([], []) is None
    assert slope([4], [1]) is None
    assert slope([2, 2], [1, 3]) is None
    with pytest.raises(ValueError, match="length"):
        slope([1, 2], [1])


def test_rss_slope_is_in_mb_per_minute() -> None:
    # 512 KiB more every 30 s = 1 MB per minute.
    samples = [(0.0, 100 * 1024), (30.0, 100 * 1024 + 512), (60.0, 101 * 1024)]
    assert rss_slope_mb_per_min(samples) == pytest.approx(1.0)
    assert rss_slope_mb_per_min([(0.0, 100 * 1024), (60.0, 100 * 1024)]) == 0.0


def test_scaling_of_a_linear_cost_with_a_fixed_part() -> None:
    s = scaling({1000: 30.0, 10_000: 210.0, 100_000: 2010.0})  # 10 ms + 0.02 ms per bid
    assert s["ms_per_1000_bids"] == {1000: 30.0, 10_000: 21.0, 100_000: 20.1}
    assert s["per_bid_ratio"] == pytest.approx(20.1 / 30.0)
    assert [st["exponent"] for st in s["steps"]] == pytest.approx(
        [math.log(7) / math.log(10), math.log(2010 / 210) / math.log(10)])
    assert (s["smallest"], s["largest"]) == (1000, 100_000)


def test_scaling_of_a_quadratic_cost() -> None:
    s = scaling({1000: 1.0, 2000: 4.0, 4000: 16.0})
    assert [st["exponent"] for st in s["steps"]] == pytest.approx([2.0, 2.0])
    assert s["per_bid_ratio"] == pytest.approx(4.0)


def test_scaling_skips_missing_sizes_and_needs_two() -> None:
    s = scaling({1000: 10.0, 2000: None, 10_000: 0.0})
    assert s["per_bid_ratio"] is None
    assert s["steps"] == []
    assert s["ms_per_1000_bids"] == {1000: 10.0}
