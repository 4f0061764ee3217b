"""Lag summaries that merge: a fixed, log-spaced histogram of milliseconds.

Every bucket but the middle one spans a factor of ``RATIO`` (1.1): bucket ``i > 0`` holds lags in
``[FLOOR_MS * RATIO**(i-1), FLOOR_MS * RATIO**i)``, bucket ``-i`` the same range below zero (a consumer
whose clock runs behind its publisher's), and bucket 0 everything within ``FLOOR_MS`` of zero. The
buckets are the same everywhere, so summaries of any minutes add up bucket by bucket, and a
percentile read from the sum is the representative of the bucket the exact value falls in: the
geometric middle of the bucket, within ``sqrt(1.1) - 1`` (4.9%) of every value in it. Lags within
``FLOOR_MS`` (10 µs) of zero read as 0.

A summary is a ``{bucket: count}`` dict, kept as JSON text with string keys in the database; some
200 buckets cover 10 µs to a day, and an edge's lags rarely spread over more than a few dozen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RATIO = 1.1
FLOOR_MS = 0.01
_LOG_RATIO = math.log(RATIO)
_MIDDLE = math.sqrt(RATIO)
PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def bucket(lag_ms: float) -> int:
    """The bucket of one lag."""
    size = abs(lag_ms)
    if size < FLOOR_MS:
        return 0
    index = int(math.log(size / FLOOR_MS) / _LOG_RATIO) + 1
    # Floating point can put a value on a bucket's lower bound into the bucket below it.
    if size >= FLOOR_MS * RATIO**index:
        index += 1
    return index if lag_ms > 0 else -index


def representative(index: int) -> float:
    """The value a bucket reads as: the geometric middle of its range (0 for the middle bucket)."""
    if index == 0:
        return 0.0
    value = FLOOR_MS * RATIO ** (abs(index) - 1) * _MIDDLE
    return value if index > 0 else -value


def add(summary: dict[int, int], lag_ms: float, count: int = 1) -> None:
    index = bucket(lag_ms)
    summary[index] = summary.get(index, 0) + count


def merge(into: dict[int, int], other: Mapping[int, int]) -> None:
    for index, count in other.items():
        into[index] = into.get(index, 0) + count


def percentiles(summary: Mapping[int, int]) -> dict[str, float] | None:
    """p50, p95 and p99 by nearest rank (the value at position ``ceil(p * n)`` in sorted order),
    rounded to 0.001 ms; None for an empty summary."""
    total = sum(summary.values())
    if total <= 0:
        return None
    ordered = sorted(summary.items())
    answer: dict[str, float] = {}
    for name, fraction in PERCENTILES:
        rank = max(1, math.ceil(fraction * total))
        seen = 0
        for index, count in ordered:
            seen += count
            if seen >= rank:
                answer[name] = round(representative(index), 3)
                break
    return answer


def encode(summary: Mapping[int, int]) -> dict[str, int]:
    return {str(index): count for index, count in summary.items()}


def decode(stored: Mapping[str, int] | Iterable[tuple[str, int]]) -> dict[int, int]:
    items = stored.items() if isinstance(stored, Mapping) else stored
    return {int(index): int(count) for index, count in items}
