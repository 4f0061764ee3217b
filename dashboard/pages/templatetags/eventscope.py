"""Template helpers for the pages: links to a key's ledger, whatever characters the key holds, and
times in the pages' one format."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from django import template
from django.utils.html import conditional_escape, format_html

from dashboard.lifecycles import report

register = template.Library()


@register.filter
def key_url(key: str) -> str:
    """The ledger page of ``key``. Every reserved character is percent-encoded (``/``, ``?``, ``#``,
    newlines…), so any key a producer sent — it is untrusted text — makes a working link."""
    return f"/keys/{quote(key, safe='')}/"


@register.filter
def transaction_url(lifecycle: str, key: str) -> str:
    """``{{ tx.lifecycle|transaction_url:tx.key }}``: the transaction's page (``lifecycles.report``
    builds the address)."""
    return report.transaction_url(lifecycle, key)


# RFC 3339 text as the API writes it: any fraction (microseconds for events, nanoseconds for spans).
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.IGNORECASE)


def _utc_iso(value: datetime | str) -> str | None:
    """``value`` as RFC 3339 in UTC (``…Z``), its fraction kept; None when it is not a time."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    match = _RFC3339.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    day, clock, fraction, offset = match.groups()
    if offset.upper() == "Z":
        return f"{day}T{clock}{fraction or ''}Z"
    # Another offset: shift the whole seconds to UTC, keep the fraction as written (nanoseconds too).
    shifted = datetime.fromisoformat(f"{day}T{clock}{offset}").astimezone(UTC)
    return shifted.strftime("%Y-%m-%dT%H:%M:%S") + (fraction or "") + "Z"


def utc_text(iso: str) -> str:
    """The pages' one time format for an RFC 3339 UTC time: ``2026-01-02 03:04:05.678901 UTC``
    (static/js/time.js's ``formatAt`` writes the same, and the browser's local form)."""
    return iso.replace("T", " ").removesuffix("Z") + " UTC"


@register.filter
def timetag(value: datetime | str | None) -> str:
    """A time as ``<time datetime="RFC 3339">UTC text</time>``; static/js/timezone.js rewrites the
    text when the reader chose local time. Text that is not a time is shown as it is; None as ""."""
    if value is None or value == "":
        return ""
    iso = _utc_iso(value)
    if iso is None:
        return conditional_escape(str(value))
    return format_html('<time datetime="{}">{}</time>', iso, utc_text(iso))


@register.filter
def timetext(value: datetime | str | None) -> str:
    """A time as plain text in the one format, in UTC (for a ``title`` attribute, where no
    ``<time>`` can go). Text that is not a time is returned as it is; None as ""."""
    if value is None or value == "":
        return ""
    iso = _utc_iso(value)
    return str(value) if iso is None else utc_text(iso)
