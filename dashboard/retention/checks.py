"""Retention settings checked at start-up: a value that would purge nothing sensible is refused."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from dashboard.retention.policy import DAYS_SETTINGS

# A century: beyond it "days ago" leaves the calendar's range (and nobody means it).
MAX_DAYS = 36_500


@register()
def check_retention_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in DAYS_SETTINGS.values():
        days = getattr(settings, name)
        if not 0 <= days <= MAX_DAYS:
            messages.append(
                Error(
                    f"{name} is {days}: it must be a number of days between 0 and {MAX_DAYS}.",
                    hint="0 keeps that kind forever; unset (or empty) uses the default.",
                    id="retention.E001",
                )
            )
    if not 1 <= settings.EVENTSCOPE_RETENTION_BATCH_SIZE <= 100_000:
        messages.append(
            Error(
                f"EVENTSCOPE_RETENTION_BATCH_SIZE is {settings.EVENTSCOPE_RETENTION_BATCH_SIZE}: "
                "it must be between 1 and 100000 rows.",
                id="retention.E002",
            )
        )
    if (
        settings.EVENTSCOPE_RETENTION_PAUSE_MS < 0
        or settings.EVENTSCOPE_RETENTION_PAUSE_FACTOR < 0
        or settings.EVENTSCOPE_RETENTION_PURGE_SECONDS < 1
    ):
        messages.append(
            Error(
                "EVENTSCOPE_RETENTION_PAUSE_MS and EVENTSCOPE_RETENTION_PAUSE_FACTOR must be 0 or more, "
                "EVENTSCOPE_RETENTION_PURGE_SECONDS at least 1.",
                id="retention.E003",
            )
        )
    return messages
