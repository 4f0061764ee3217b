"""The periodic purge and partition upkeep (Celery beat; see ``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from dashboard.retention import partitions
from dashboard.retention.purge import purge


@shared_task(name="tasks.retention.purge_expired", ignore_result=True)
def purge_expired() -> dict[str, int]:
    """Purge what is past its retention, for at most one schedule interval (so runs do not pile
    up: a purge cut short is continued by the next); rows deleted per kind."""
    outcomes = purge(budget_seconds=settings.EVENTSCOPE_RETENTION_PURGE_SECONDS)
    return {outcome.kind: outcome.deleted for outcome in outcomes}


@shared_task(name="tasks.retention.keep_partitions_ahead", ignore_result=True)
def keep_partitions_ahead() -> list[str]:
    """PostgreSQL: make the day partitions of today and the next days that are missing (nothing on
    SQLite); the partitions made. Rows of a day with no partition land in the DEFAULT partition."""
    return partitions.keep_ahead()
