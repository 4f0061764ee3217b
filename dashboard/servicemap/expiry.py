"""Rollup rows past their retention (``EVENTSCOPE_RETENTION_DAYS_SERVICEMAP``), for the purge.

A bucket goes once the whole of it lies before the cut-off: a window that starts after the cut-off
never reads a bucket cut in half. Rows are found through the unique index (``width`` then
``minute``), one width at a time, and deleted by id in batches, each in a write transaction of its
own taken one fold at a time (on PostgreSQL the fold's advisory lock: a fold that read a row never
finds it gone under its update).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Model

from dashboard.core.bulk import run_alone_in_write_transaction
from dashboard.servicemap.fold import MINUTE_NS, WIDTHS, one_fold_at_a_time, time_ns
from dashboard.servicemap.models import EdgeBucket, ServiceBucket

MODELS: tuple[type[Model], ...] = (EdgeBucket, ServiceBucket)


def _cut_minute(before: datetime) -> int:
    return time_ns(before) // MINUTE_NS


def count_old_buckets(before: datetime) -> int:
    """How many rollup rows lie wholly before ``before``."""
    cut = _cut_minute(before)
    return sum(
        model.objects.filter(width=width, minute__lte=cut - width).count()  # type: ignore[attr-defined]
        for model in MODELS
        for width in WIDTHS
    )


def delete_old_buckets(before: datetime, limit: int) -> int:
    """Delete at most ``limit`` rollup rows lying wholly before ``before``; how many went (fewer
    than ``limit``: none is left)."""
    cut = _cut_minute(before)

    def delete() -> int:
        deleted = 0
        for model in MODELS:
            for width in WIDTHS:
                if deleted >= limit:
                    return deleted
                old = model.objects.filter(width=width, minute__lte=cut - width)  # type: ignore[attr-defined]
                ids = list(old.order_by("minute").values_list("pk", flat=True)[: limit - deleted])
                if ids:
                    deleted += model.objects.filter(pk__in=ids).delete()[0]  # type: ignore[attr-defined]
        return deleted

    with one_fold_at_a_time():
        return run_alone_in_write_transaction(delete)
