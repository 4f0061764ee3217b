"""Where ``SECRET_KEY`` comes from when the environment does not give one.

Token secrets are HMACs keyed by ``SECRET_KEY`` (``dashboard.core.tokens``), so a key that changed
at every start would revoke every token. A checkout is given a lasting key by ``manage.py
bootstrap`` (what ``make run`` runs first): :func:`create` writes one into ``var/secret_key``, and
the settings :func:`read` it from then on. Importing the settings writes nothing.

Without a key in the environment or in the file, debug mode runs on a key made up for the process
(:func:`ephemeral`), which the system checks report (``dashboard.W003``); without debug mode the key
stays empty and the checks refuse to start (``dashboard.E005``).

Pure (no Django): ``config/settings.py`` uses it before Django is set up.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# Marks a key made up for one process, so that the system checks can say so whichever settings
# module chose it (as Django's own checks recognise the ``django-insecure-`` keys of ``startproject``).
EPHEMERAL_PREFIX = "eventscope-ephemeral-"


def generate() -> str:
    """A new random key: 50 URL-safe characters' worth of entropy (Django's strength rule)."""
    return secrets.token_urlsafe(50)


def ephemeral() -> str:
    """A key for this process only: every token and session made with it dies with the process."""
    return EPHEMERAL_PREFIX + generate()


def is_ephemeral(key: str) -> bool:
    return key.startswith(EPHEMERAL_PREFIX)


def read(path: Path) -> str:
    """The key kept in ``path``, or ``""`` when there is none yet."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def create(path: Path) -> tuple[str, bool]:
    """The key kept in ``path``, written there first (readable by its owner only) when there is none
    yet; and whether it was written now. Safe against a concurrent first start: the key appears in
    ``path`` whole or not at all, and one that exists is never replaced (every token depends on it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside it with mode 0600 from the start (never readable by others, not even for a
    # moment), then linked into place: a link fails when the name exists, where a rename replaces.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        key = generate()
        with os.fdopen(descriptor, "w") as out:
            out.write(key + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            return read(path), False
        return key, True
    finally:
        draft.unlink()
