"""The lag summaries: per-bucket histograms that merge, read within the documented 4.9% of the exact
nearest-rank percentile over any window (docs/servicemap.md)."""

from __future__ import annotations

import math
import random

import pytest

from dashboard.servicemap import histogram

ACCURACY = math.sqrt(histogram.RATIO) - 1


def nearest_rank(values: list[float], fraction: float) -> float:
    return sorted(values)[max(1, math.ceil(fraction * len(values))) - 1]


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_of_merged_minutes_are_within_the_stated_accuracy_over_any_window(seed: int) -> None:
    rng = random.Random(seed)
    # 120 minutes of lags from 0.05 ms to about a minute, some minutes much slower than others.
    minutes = [[rng.lognormvariate(rng.uniform(0, 8), 1.5) for _ in range(rng.randrange(0, 60))] for _ in range(120)]
    summaries = []
    for lags in minutes:
        summary: dict[int, int] = {}
        for lag in lags:
            histogram.add(summary, lag)
        # Kept as JSON text keys in the database, and read back.
        summaries.append(histogram.decode(histogram.encode(summary)))
    for _ in range(30):
        first = rng.randrange(0, 119)
        end = rng.randrange(first + 1, 121)
        merged: dict[int, int] = {}
        for summary in summaries[first:end]:
            histogram.merge(merged, summary)
        values = [lag for lags in minutes[first:end] for lag in lags]
        answer = histogram.percentiles(merged)
        if not values:
            assert answer is None
            continue
        assert answer is not None
        for name, fraction in histogram.PERCENTILES:
            exact = nearest_rank(values, fraction)
            # The answer is rounded to 0.001 ms.
            assert abs(answer[name] - exact) <= ACCURACY * exact + 0.0005, (name, answer[name], exact)


def test_negative_and_near_zero_lags() -> None:
    summary: dict[int, int] = {}
    for lag in (-120.0, -0.004, 0.0, 0.009, 35.0):
        histogram.add(summary, lag)
    answer = histogram.percentiles(summary)
    assert answer is not None
    assert answer["p50"] == 0.0  # within 0.01 ms of zero reads as 0
    assert abs(answer["p99"] - 35.0) <= ACCURACY * 35.0
    low = histogram.percentiles({histogram.bucket(-120.0): 1})
    assert low is not None and abs(low["p50"] + 120.0) <= ACCURACY * 120.0


def test_every_value_falls_in_the_bucket_whose_range_holds_it() -> None:
    for value in (0.01, 0.011, 1.0, 1.1, 1.21, 999.9, 1000.0, 86_400_000.0):
        index = histogram.bucket(value)
        low = histogram.FLOOR_MS * histogram.RATIO ** (index - 1)
        assert low <= value < low * histogram.RATIO, (value, index)
        # At a bucket's lower bound the error is the bound itself (sqrt(1.1) - 1): allow for float rounding.
        assert abs(histogram.representative(index) - value) <= ACCURACY * value * (1 + 1e-9)
