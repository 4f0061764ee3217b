"""System checks: misconfiguration is reported at start-up, with namespaced ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from dashboard.core import secret_key

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
    messages.extend(check_sqlite_folder())
    return messages


# What to do about a missing (or made-up) key.
MISSING_KEY_HINT = (
    "Run `.venv/bin/python manage.py bootstrap` (the first step of `make run`): it creates var/ and generates a "
    "lasting key into var/secret_key. Or set SECRET_KEY (or SECRET_KEY_FILE)."
)


def configured_secret_key() -> str:
    """SECRET_KEY as configured, ``""`` when it is not set (where Django's own accessor raises)."""
    try:
        return str(settings.SECRET_KEY)
    except ImproperlyConfigured:
        return ""


def secret_key_is_weak(key: str) -> bool:
    """Whether ``key`` fails Django's strength rule: short, few distinct characters, or the
    ``django-insecure-`` prefix of a key that ``startproject`` generated for development."""
    return (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or key.startswith("django-insecure-")
    )


def check_secret_key() -> list[CheckMessage]:
    """SECRET_KEY missing (an error), made up for this process (debug mode only: a warning; an error
    otherwise), or weak (an error with ``DEBUG`` off, a warning in debug mode). An error stops
    ``migrate``, ``serve`` and so ``make run``."""
    key = configured_secret_key()
    if not key:
        return [
            Error(
                "SECRET_KEY is not set; sessions and token secrets are derived from it.",
                hint=MISSING_KEY_HINT,
                id="dashboard.E005",
            )
        ]
    if secret_key.is_ephemeral(key):
        message = (
            "SECRET_KEY is not set: this process uses a key made up at its start. Sessions and the "
            "secrets of tokens issued now stop working when it restarts."
        )
        if settings.DEBUG:
            return [Warning(message, hint=MISSING_KEY_HINT, id="dashboard.W003")]
        return [Error(message, hint=MISSING_KEY_HINT, id="dashboard.E005")]
    if not secret_key_is_weak(key):
        return []
    message = (
        f"SECRET_KEY is weak: it has {len(key)} characters, {len(set(key))} of them distinct; "
        "token secrets and sessions are derived from it."
    )
    hint = (
        f"Use at least {SECRET_KEY_MIN_LENGTH} random characters, e.g. "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(50))', or unset SECRET_KEY and run "
        "`.venv/bin/python manage.py bootstrap` to have one generated into var/secret_key. Changing it "
        "invalidates existing tokens and sessions."
    )
    if settings.DEBUG:
        return [Warning(message, hint=hint, id="dashboard.W002")]
    return [Error(message, hint=hint, id="dashboard.E004")]


def check_sqlite_folder() -> list[CheckMessage]:
    """The SQLite database's folder must exist: SQLite creates the file, not the folders above it."""
    database = settings.DATABASES["default"]
    name = str(database["NAME"])
    if database["ENGINE"] != "django.db.backends.sqlite3" or name == ":memory:" or name.startswith("file:"):
        return []
    folder = Path(name).parent
    if folder.is_dir():
        return []
    hint = "Run `.venv/bin/python manage.py bootstrap` (the first step of `make run`), which creates it."
    return [Error(f"The SQLite database's folder {folder} does not exist.", hint=hint, id="dashboard.E006")]
