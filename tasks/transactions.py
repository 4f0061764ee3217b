"""Periodic transaction tasks (Celery beat; see ``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from celery import shared_task

from dashboard.lifecycles.sweep import mark_overdue


@shared_task(
    name="tasks.transactions.sweep_overdue_transactions", ignore_result=True, time_limit=300, soft_time_limit=240
)
def sweep_overdue_transactions() -> int:
    """Persist ``incomplete`` on transactions past their deadline; how many were marked."""
    return mark_overdue()
