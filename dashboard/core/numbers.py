"""Whole numbers from request and header text, without the surprises of ``str.isdigit``.

``"²".isdigit()`` is true but ``int("²")`` fails, ``int`` refuses more than 4,300 digits, and a
value past 2**63 fits no integer column: each of these turned a bad parameter into a 500.
"""

from __future__ import annotations

MAX_DIGITS = 18  # below 2**63, so it fits every integer column on SQLite and PostgreSQL


def whole_number(text: str | None) -> int | None:
    """``text`` as an int when it is 1 to 18 ASCII digits, else None."""
    if text and len(text) <= MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None
