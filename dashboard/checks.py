"""System checks: misconfiguration is reported at start-up, with namespaced ids."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if settings.EVENTSCOPE_MAX_BODY_BYTES < 1024:
        messages.append(
            Error("EVENTSCOPE_MAX_BODY_BYTES is below 1 KiB.", hint="Use at least 1048576.", id="dashboard.E001")
        )
    if not 1 <= settings.EVENTSCOPE_MAX_BATCH <= 10000:
        messages.append(Error("EVENTSCOPE_MAX_BATCH must be between 1 and 10000.", id="dashboard.E002"))
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
        messages.append(
            Error(f"Unsupported database engine {engine}.", hint="Use SQLite or PostgreSQL.", id="dashboard.E003")
        )
    if not settings.DEBUG and "*" in settings.ALLOWED_HOSTS:
        messages.append(Warning("ALLOWED_HOSTS allows any host.", id="dashboard.W001"))
    return messages
