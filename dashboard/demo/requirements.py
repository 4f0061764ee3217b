"""The demo's own requirements, which the server does not install (they are in requirements-dev.txt)."""

from __future__ import annotations

import importlib.util

from django.core.management.base import CommandError


def require(*modules: str) -> None:
    """Raise a ``CommandError`` that says how to install them when any of ``modules`` is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise CommandError(
            f"This command needs the development requirements ({', '.join(missing)} missing): "
            "run it through make (make demo, make screenshots), or "
            "`.venv/bin/pip install -r requirements-dev.txt` first."
        )
