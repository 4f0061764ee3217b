"""Template helpers for the pages: links to a key's ledger, whatever characters the key holds."""

from __future__ import annotations

from urllib.parse import quote

from django import template

register = template.Library()


@register.filter
def key_url(key: str) -> str:
    """The ledger page of ``key``. Every reserved character is percent-encoded (``/``, ``?``, ``#``,
    newlines…), so any key a producer sent — it is untrusted text — makes a working link."""
    return f"/keys/{quote(key, safe='')}/"
