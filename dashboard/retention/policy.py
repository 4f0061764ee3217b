"""What each kind's retention is: the settings, and the cut-off they give at a moment."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

# Kind -> the setting that gives its age limit in days (0: kept forever).
DAYS_SETTINGS = {
    "events": "EVENTSCOPE_RETENTION_DAYS_EVENTS",
    "spans": "EVENTSCOPE_RETENTION_DAYS_SPANS",
    "logs": "EVENTSCOPE_RETENTION_DAYS_LOGS",
    # The service map's rollups (per minute, ten minutes and hour): by the bucket's time, not by
    # when a row was written, since a late span adds to an old bucket.
    "servicemap": "EVENTSCOPE_RETENTION_DAYS_SERVICEMAP",
    # Transaction records: by the later of their deadline and their last change
    # (dashboard.lifecycles.expiry); their events may be gone before them, or after.
    "transactions": "EVENTSCOPE_RETENTION_DAYS_TRANSACTIONS",
}
KINDS = tuple(DAYS_SETTINGS)


def retention_days(kind: str) -> int:
    return int(getattr(settings, DAYS_SETTINGS[kind]))


def cutoff(kind: str, now: datetime) -> datetime | None:
    """Rows of ``kind`` received before this moment are purged; None when the kind is kept forever."""
    days = retention_days(kind)
    return None if days <= 0 else now - timedelta(days=days)
