"""Transaction records past their retention (``EVENTSCOPE_RETENTION_DAYS_TRANSACTIONS``), for the purge.

A record goes once nothing has changed it since the cut-off (``updated_at``: a step, an update, a
duplicate and the deadline sweep all change it) and its deadline has passed: a transaction still
inside the time its lifecycle allows is kept, however long it has been quiet.

Records are found through the index the deadline sweep reads, ``(status, deadline)``, with no index
of their own on ``updated_at`` (ingest would rewrite its entry on every tracked event). A record's
deadline is its first event's time plus its lifecycle's timeout, so a record untouched since the
cut-off has its deadline before the cut-off plus that timeout (a producer's clock far ahead delays
that, its clock behind does not matter). The walk takes each status's deadlines from the oldest in
ranges of about ``limit`` records, each range deleted in a write transaction of its own; the
records of a range that were changed since the cut-off stay, and the walk goes past them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial

from django.db.models import Max, QuerySet

from dashboard.core.bulk import run_alone_in_write_transaction
from dashboard.lifecycles.models import Lifecycle, Transaction

STATUSES = (Transaction.COMPLETE, Transaction.INCOMPLETE, Transaction.IN_PROGRESS)


def _deadline_limit(before: datetime, now: datetime) -> datetime | None:
    """Records with a deadline before this may go: passed at ``now``, and early enough to belong to a
    record untouched since ``before``. None: no lifecycle, so no record."""
    longest = Lifecycle.objects.aggregate(longest=Max("timeout_seconds"))["longest"]
    return None if longest is None else min(now, before + timedelta(seconds=longest))


def _stale(before: datetime, limit: datetime) -> QuerySet[Transaction]:
    return Transaction.objects.filter(deadline__lt=limit, updated_at__lt=before)


def count_stale_records(before: datetime, now: datetime) -> int:
    """How many records a purge at ``now`` with this cut-off would delete."""
    limit = _deadline_limit(before, now)
    return 0 if limit is None else _stale(before, limit).count()


def _ranges(status: str, limit: datetime, size: int) -> Iterator[tuple[datetime, datetime | None]]:
    """Deadline ranges ``[low, high)`` (``high`` None: up to ``limit``) of about ``size`` records of
    ``status`` each, from the oldest deadline up to ``limit``. A range holds more when many records
    share its last deadline (a range never splits one deadline)."""
    records = Transaction.objects.filter(status=status, deadline__lt=limit).order_by("deadline")
    first = records.values_list("deadline", flat=True).first()
    if first is None:
        return
    low = first
    while True:
        # The deadline ``size`` records on: the next range starts there (or just after ``low``
        # when all of them share ``low``).
        following = list(records.filter(deadline__gte=low).values_list("deadline", flat=True)[size : size + 1])
        high = following[0] if following else None
        if high is not None and high == low:
            high = records.filter(deadline__gt=low).values_list("deadline", flat=True).first()
        yield low, high
        if high is None:
            return
        low = high


def delete_stale_records(before: datetime, now: datetime, size: int) -> Iterator[int]:
    """Delete the records untouched since ``before`` whose deadline passed by ``now``, in ranges of
    about ``size`` records, each in a write transaction of its own; yields how many each range
    deleted (the caller paces the walk, and may stop it between two ranges)."""
    limit = _deadline_limit(before, now)
    if limit is None:
        return
    for status in STATUSES:
        for low, high in _ranges(status, limit, size):
            stale = _stale(before, limit).filter(status=status, deadline__gte=low)
            if high is not None:
                stale = stale.filter(deadline__lt=high)
            yield run_alone_in_write_transaction(partial(_delete, stale))


def _delete(records: QuerySet[Transaction]) -> int:
    return int(records.delete()[0])
