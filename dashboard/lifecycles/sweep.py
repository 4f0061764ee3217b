"""The deadline sweep: persist ``incomplete`` on transactions past their deadline."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F
from django.utils import timezone

from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Transaction


def mark_overdue(now: datetime | None = None) -> int:
    """Mark every transaction with steps missing whose deadline has passed ``incomplete``, recording
    when it went overdue (its deadline); return how many were marked.

    One conditional UPDATE: a record that a concurrent ingest completes or changes is either
    updated before (and then judged on its new values) or after (ingest recomputes the status
    itself), never half of each.
    """
    fold_pending()  # a record folded after this sweep must not miss its events' steps
    now = now or timezone.now()
    return (
        Transaction.objects.filter(missing_count__gt=0, deadline__lt=now)
        .exclude(status=Transaction.INCOMPLETE)
        .update(status=Transaction.INCOMPLETE, overdue_at=F("deadline"))
    )
