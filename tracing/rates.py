"""Event and span rates over a recent window, by source / service, for the overview charts.

Counting is done by the database (GROUP BY a minute bucket), so the cost grows with the number of
rows in the window, never with the whole archive: events are narrowed by stored-id range (ids are
ULIDs, ordered by arrival), spans by the ``start_ns`` index.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Value
from django.db.models.functions import Substr

from dashboard.core.ids import id_floor, ms_of
from dashboard.events.models import Event
from tracing.models import Span

#: window name -> (length, bucket size in minutes)
WINDOWS: dict[str, tuple[timedelta, int]] = {
    "15m": (timedelta(minutes=15), 1),
    "1h": (timedelta(hours=1), 1),
    "6h": (timedelta(hours=6), 5),
    "24h": (timedelta(hours=24), 15),
}
DEFAULT_WINDOW = "1h"
#: The busiest series are drawn one by one; the rest are summed as "other" so a chart stays legible.
MAX_SERIES = 8
#: At most this many of the newest rows are counted per chart. Past it (a very busy window) the
#: chart starts where the budget ran out and says so, instead of the page scanning millions of rows.
ROW_BUDGET = 50_000
_MINUTE_NS = 60_000_000_000


@dataclass(frozen=True, slots=True)
class RateChart:
    """Counts per bucket for each series; ``buckets`` are the buckets' starts (epoch milliseconds)."""

    buckets: list[int]
    bucket_minutes: int
    series: list[dict[str, Any]]  # {"name": str, "counts": [int, ...], "total": int}
    counted_from: int | None = None  # epoch ms: with more rows than ROW_BUDGET, counts start here

    def as_json(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "bucket_minutes": self.bucket_minutes,
            "series": self.series,
            "counted_from": self.counted_from,
            "budget": ROW_BUDGET,
        }


def _chart(
    rows: list[tuple[str, int, int]], start_minute: int, minutes: int, bucket_minutes: int, counted_from: int | None
) -> RateChart:
    """Fold (name, epoch minute, count) rows into fixed buckets starting at ``start_minute``."""
    slots = minutes // bucket_minutes
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * slots)
    for name, minute, count in rows:
        slot = (minute - start_minute) // bucket_minutes
        if 0 <= slot < slots:
            counts[name][slot] += count
    ranked = sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0]))
    series = [{"name": name, "counts": values, "total": sum(values)} for name, values in ranked[:MAX_SERIES]]
    if len(ranked) > MAX_SERIES:
        other = [sum(values[i] for _, values in ranked[MAX_SERIES:]) for i in range(slots)]
        series.append({"name": "(other)", "counts": other, "total": sum(other)})
    buckets = [(start_minute + i * bucket_minutes) * 60_000 for i in range(slots)]
    return RateChart(buckets=buckets, bucket_minutes=bucket_minutes, series=series, counted_from=counted_from)


def recent_rates(window: str, now: datetime | None = None) -> tuple[RateChart, RateChart]:
    """Events by source (by arrival time) and spans by service (by start time) over ``window``."""
    length, bucket_minutes = WINDOWS[window]
    now = (now or datetime.now(UTC)).astimezone(UTC)
    minutes = int(length.total_seconds() // 60)
    # Buckets are aligned to the bucket size so that a refresh does not shift every bar.
    end_minute = int(now.timestamp() // 60) // bucket_minutes * bucket_minutes + bucket_minutes
    start_minute = end_minute - minutes
    start = datetime.fromtimestamp(start_minute * 60, UTC)

    # The ROW_BUDGET-th newest row, found by walking an index (no table reads): past it nothing is counted.
    event_floor = id_floor(start)
    nth_event = (
        Event.objects.filter(id__gte=event_floor)
        .order_by("-id")
        .values_list("id", flat=True)[ROW_BUDGET : ROW_BUDGET + 1]
    )
    event_cut = next(iter(nth_event), None)
    # Bucketed by the time part of the stored id (a ULID): its first 7 characters are the arrival time
    # in 32.768-second steps. Plain SQL on an indexed column, where a datetime truncation would call a
    # function per row; each step is then counted in the minute it starts in.
    event_rows = (
        Event.objects.filter(id__gt=event_cut or event_floor)
        .annotate(step=Substr("id", 1, 7))
        .values_list("source", "step")
        .annotate(n=Count("id"))
        .order_by()
    )
    events = [(source, ms_of(step + "000") // 60_000, n) for source, step, n in event_rows]

    minute_of = ExpressionWrapper(F("start_ns") / Value(_MINUTE_NS), output_field=BigIntegerField())
    span_floor = start_minute * _MINUTE_NS
    nth_span = (
        Span.objects.filter(start_ns__gte=span_floor)
        .order_by("-start_ns")
        .values_list("start_ns", flat=True)[ROW_BUDGET : ROW_BUDGET + 1]
    )
    span_cut = next(iter(nth_span), None)
    span_rows = (
        Span.objects.filter(start_ns__gt=span_cut or span_floor)
        .annotate(minute=minute_of)
        .values_list("service", "minute")
        .annotate(n=Count("id"))
        .order_by()
    )
    spans = [(service, int(minute), n) for service, minute, n in span_rows]
    return (
        _chart(events, start_minute, minutes, bucket_minutes, ms_of(event_cut) if event_cut else None),
        _chart(spans, start_minute, minutes, bucket_minutes, span_cut // 1_000_000 if span_cut else None),
    )
