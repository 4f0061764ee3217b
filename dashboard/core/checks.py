"""System checks: misconfiguration is reported at start-up, with namespaced ids."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

# Django's own rule for a strong key (its deployment check security.W009), applied here at every
# start and not only under ``check --deploy``: token secrets are HMACs keyed by SECRET_KEY, so a
# weak key lets anyone who guesses it mint every token's secret.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5


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
    messages.extend(check_secret_key())
    return messages


def secret_key_is_weak(key: str) -> bool:
    """Whether ``key`` fails Django's strength rule: short, few distinct characters, or the
    ``django-insecure-`` prefix of a key that ``startproject`` generated for development."""
    return (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or key.startswith("django-insecure-")
    )


def check_secret_key() -> list[CheckMessage]:
    """A weak SECRET_KEY: an error with ``DEBUG`` off (it stops ``migrate`` and ``make run``), a
    warning in debug mode."""
    if not secret_key_is_weak(settings.SECRET_KEY):
        return []
    message = (
        f"SECRET_KEY is weak: it has {len(settings.SECRET_KEY)} characters, "
        f"{len(set(settings.SECRET_KEY))} of them distinct; token secrets and sessions are derived from it."
    )
    hint = (
        f"Use at least {SECRET_KEY_MIN_LENGTH} random characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))', or unset SECRET_KEY to have one "
        "generated into var/secret_key. Changing it invalidates existing tokens and sessions."
    )
    if settings.DEBUG:
        return [Warning(message, hint=hint, id="dashboard.W002")]
    return [Error(message, hint=hint, id="dashboard.E004")]
