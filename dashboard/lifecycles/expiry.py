"""Transaction records past their retention (``EVENTSCOPE_RETENTION_DAYS_TRANSACTIONS``), for the purge.

A record goes once both its deadline and its last change (``updated_at``: a step, an update or a
duplicate) lie before the cut-off: a transaction stays for the whole retention after its time ran
out (the report shows it incomplete, or complete, all that while), and a late step keeps it as long
again.

Records are found through the index the deadline sweep reads, ``(status, deadline)``, with no index
of their own on ``updated_at`` (ingest would rewrite its entry on every tracked event). The walk takes
each status's deadlines before the cut-off from the oldest, in ranges of about ``size`` records. In
each range the records still stale are chosen and deleted in a write transaction of their own, at
most ``size`` at a time; the records of a range changed since the cut-off stay, and the walk goes
past them.

- SQLite: steps are folded into records just after ingest (``dashboard.lifecycles.fold``); each
  batch folds first, under the same write lock, so a step already accepted keeps its record.
- PostgreSQL: the batch locks the records it deletes with ``FOR UPDATE SKIP LOCKED``. It waits for
  no one (a record that ingest or the sweep holds is being changed, so it is not stale: it is left
  for the next purge), and a batch of ingest that finds its record gone starts it again
  (``tracking._start_again``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial

from django.db.models import QuerySet

from dashboard.core.bulk import run_alone_in_write_transaction
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Transaction

# In progress first: the sweep may move a record on to incomplete while the walk runs.
STATUSES = (Transaction.IN_PROGRESS, Transaction.INCOMPLETE, Transaction.COMPLETE)
_TICK = timedelta(microseconds=1)


def _stale(before: datetime) -> QuerySet[Transaction]:
    return Transaction.objects.filter(status__in=STATUSES, deadline__lt=before, updated_at__lt=before)


def count_stale_records(before: datetime) -> int:
    """How many records a purge with this cut-off would delete (what ingest accepted but the fold
    has not merged yet counted as merged)."""
    fold_pending()
    return _stale(before).count()


def _ranges(status: str, before: datetime, size: int) -> Iterator[tuple[datetime, datetime | None]]:
    """Deadline ranges ``[low, high)`` (``high`` None: up to ``before``) of about ``size`` records of
    ``status`` each, from the oldest deadline on. A range never splits one deadline, so one holds
    more when many records share its last deadline."""
    records = Transaction.objects.filter(status=status, deadline__lt=before).order_by("deadline")
    low = records.values_list("deadline", flat=True).first()
    while low is not None:
        # The deadline ``size`` records on starts the next range; when all of those share ``low``,
        # the next range starts just after it (a moment later, not the next deadline read back: on
        # SQLite a time read back and written again may sort apart from how it was stored).
        following = list(records.filter(deadline__gte=low).values_list("deadline", flat=True)[size : size + 1])
        high = max(following[0], low + _TICK) if following else None
        yield low, high
        low = high


def delete_stale_records(before: datetime, size: int) -> Iterator[int]:
    """Delete the records whose deadline and last change lie before ``before``, at most ``size`` a
    write transaction; yields how many each transaction deleted (the caller paces the walk and may
    stop it between two yields)."""
    for status in STATUSES:
        for low, high in _ranges(status, before, size):
            stale = _stale(before).filter(status=status, deadline__gte=low)
            if high is not None:
                stale = stale.filter(deadline__lt=high)
            # A range holds at most ``size`` records, one batch, unless they all share one deadline.
            shared = high is not None and high - low == _TICK
            while True:
                fold_pending()  # SQLite: a chunk a write transaction; the batch folds only what came since
                deleted = run_alone_in_write_transaction(partial(_delete, stale, size))
                yield deleted
                if not shared or deleted < size:
                    break


def _delete(stale: QuerySet[Transaction], size: int) -> int:
    """In the batch's write transaction: fold what ingest accepted since the fold just before (SQLite),
    then delete at most ``size`` of ``stale`` that nobody else holds."""
    fold_pending()
    ids = list(stale.select_for_update(skip_locked=True).order_by("deadline").values_list("pk", flat=True)[:size])
    if not ids:
        return 0
    return int(stale.filter(pk__in=ids).delete()[0])
