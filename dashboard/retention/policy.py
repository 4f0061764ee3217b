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
# How a purge names what a kind lost and what its age is told by (other kinds: rows received before).
_WORDING = {
    "servicemap": ("rollup rows ", "buckets ended by"),
    "transactions": ("records ", "deadline and last change before"),
}


def wording(kind: str) -> tuple[str, str]:
    """What ``kind``'s rows are called (empty, or ending in a space) and what their cut-off is
    compared with, for the purge's log and its command."""
    return _WORDING.get(kind, ("", "received before"))


def retention_days(kind: str) -> int:
    return int(getattr(settings, DAYS_SETTINGS[kind]))


def cutoff(kind: str, now: datetime) -> datetime | None:
    """Rows of ``kind`` received before this moment are purged; None when the kind is kept forever."""
    days = retention_days(kind)
    return None if days <= 0 else now - timedelta(days=days)
