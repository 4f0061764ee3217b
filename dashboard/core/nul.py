"""U+0000 (NUL): PostgreSQL stores it in neither text nor jsonb, so it is found before it gets there.

In JSON text it is the escape ``\\u0000`` (one not itself escaped: ``\\\\u0000`` is a backslash and
the letters ``u0000``).
"""

from __future__ import annotations

import re

_ESCAPED_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def text_holds_nul(text: str) -> bool:
    """Whether ``text`` (plain, or JSON) carries U+0000. Two substring searches when it does not."""
    return "\x00" in text or ("\\u0000" in text and _ESCAPED_NUL.search(text) is not None)


def replace_nul(text: str) -> str:
    """``text`` with each U+0000 (plain, or escaped in JSON) replaced by U+FFFD."""
    return _ESCAPED_NUL.sub(r"\1\\ufffd", text.replace("\x00", "\ufffd"))
