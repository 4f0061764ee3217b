"""Reading stored events: the search (newest first, cursor-paged) and a key's ledger.

The JSON API and the pages both call these. A search takes the request's query parameters as they
came (``request.GET`` or any mapping of strings); a parameter that cannot be used raises
:class:`~dashboard.core.errors.Problem` (400) whose ``where`` names it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from dashboard.core.errors import Problem
from dashboard.core.ids import ms_of
from dashboard.core.numbers import whole_number
from dashboard.events.envelope import EntryError, parse_time
from dashboard.events.models import Event
from dashboard.events.shapes import LIST_FIELDS, envelope_of, event_json
from dashboard.patterns.engine import CompiledPattern, PatternError, compile_pattern

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
# A pattern is matched in Python, and q= is a substring search the database cannot index, both
# after the indexed filters. One request scans at most this many rows, or for at most this many
# seconds, and hands back a cursor to go on from: a rare pattern or text never turns into an
# unbounded scan, and no request holds the CPU for long.
SCAN_LIMIT = 20_000
SCAN_SECONDS = 1.0
MAX_TEXT_LENGTH = 200
# The most events a key's ledger lists (oldest first).
LEDGER_LIMIT = 1000
_PAGE = 500
# A cursor is a stored id (a ULID); the API document gives this pattern for it.
CURSOR = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def limit_param(params: Mapping[str, str], default: int, high: int, name: str = "limit") -> int:
    """``params[name]`` as a whole number from 1 to ``high``; ``default`` when absent or empty."""
    raw = params.get(name)
    if not raw:
        return default
    value = whole_number(raw)
    if value is None or not 1 <= value <= high:
        raise Problem(f"'{name}' must be a whole number from 1 to {high}.", code="invalid_parameter", where=name)
    return value


def time_param(params: Mapping[str, str], name: str) -> datetime | None:
    """``params[name]`` as an RFC 3339 time; None when absent or empty."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw, name)
    except EntryError as err:
        raise Problem(str(err), code="invalid_parameter", where=name) from None


def pattern_param(raw: str | None, name: str = "pattern") -> CompiledPattern | None:
    """The event pattern given as JSON text, compiled; None when absent or empty."""
    if not raw:
        return None
    try:
        return compile_pattern(raw)  # as text: too long, not JSON or too deep is said as such
    except PatternError as err:
        raise Problem(f"Invalid event pattern: {err}", code="invalid_pattern", where=name) from None


def narrowed_by_pattern(query: QuerySet[Event], pattern: CompiledPattern | None) -> QuerySet[Event]:
    """``query`` limited to the sources and detail-types ``pattern`` pins, on their indexed columns
    (the pattern itself is still to be matched, in Python)."""
    if pattern is not None:
        for field, column in (("source", "source"), ("detail-type", "detail_type")):
            pinned = pattern.pinned_values(field)
            if pinned is not None:
                query = query.filter(**{f"{column}__in": sorted(pinned)})
    return query


def _text_param(params: Mapping[str, str]) -> str:
    text = params.get("q", "")
    if len(text) > MAX_TEXT_LENGTH:
        raise Problem(f"'q' is longer than {MAX_TEXT_LENGTH} characters.", code="invalid_parameter", where="q")
    return text


def _filtered_events(params: Mapping[str, str], pattern: CompiledPattern | None) -> QuerySet[Event]:
    """The indexed filters of a search, newest first; the pattern's pinned fields narrow it too.

    Neither the pattern nor ``q`` is applied here: :func:`search_events` scans for them, bounded.
    """
    query = Event.objects.all()
    for param, column in (
        ("source", "source"),
        ("detail_type", "detail_type"),
        ("trace_id", "trace_id"),
        ("idempotency_key", "idempotency_key"),
    ):
        value = params.get(param)
        if value:
            query = query.filter(**{column: value.lower() if param == "trace_id" else value})
    valid = params.get("schema_valid")
    if valid:
        # Checked against a pinned schema version at ingest (Event.schema_error): "" passed.
        if valid not in ("true", "false"):
            raise Problem("'schema_valid' must be true or false.", code="invalid_parameter", where="schema_valid")
        query = query.filter(schema_error="") if valid == "true" else query.filter(schema_error__gt="")
    since, until = time_param(params, "since"), time_param(params, "until")
    if since:
        query = query.filter(time__gte=since)
    if until:
        query = query.filter(time__lt=until)
    query = narrowed_by_pattern(query, pattern)
    cursor = params.get("cursor")
    if cursor:
        if not CURSOR.fullmatch(cursor):
            raise Problem("'cursor' is not a cursor this API gave out.", code="invalid_cursor", where="cursor")
        query = query.filter(id__lt=cursor)
    after = params.get("after")
    if after:
        # Resuming a live view: what was stored after the last event it showed, oldest first.
        if not CURSOR.fullmatch(after) or cursor:
            raise Problem(
                "'after' must be a stored event id, without 'cursor'.", code="invalid_parameter", where="after"
            )
        return query.filter(id__gt=after).order_by("id")
    return query.order_by("-id")


def search_events(params: Mapping[str, str]) -> tuple[list[Event], str | None]:
    """One page of a search and the cursor of the next page (None on the last).

    ``params``: ``source``, ``detail_type``, ``trace_id``, ``idempotency_key``, ``schema_valid``
    (``true``/``false``: events checked against a pinned schema version), ``since``/``until``
    (RFC 3339, on the event's time), ``pattern`` (an event pattern's JSON text), ``q`` (text in the
    stored body), ``limit``, and ``cursor`` (older than) or ``after`` (newer than, oldest first).
    With ``pattern`` or ``q``, at most ``SCAN_LIMIT`` rows (or ``SCAN_SECONDS`` of work) are looked
    at; a page may then hold fewer than ``limit`` events, or none, with a cursor to go on from.
    """
    limit = limit_param(params, DEFAULT_LIMIT, MAX_LIMIT)
    pattern = pattern_param(params.get("pattern"))
    text = _text_param(params)
    query = _filtered_events(params, pattern).only(*LIST_FIELDS, "account", "region")
    if pattern is None and not text:
        rows = list(query[: limit + 1])
        return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)
    return _scan(query, limit, pattern, text, oldest_first=bool(params.get("after")))


def _scan(
    query: QuerySet[Event], limit: int, pattern: CompiledPattern | None, text: str, *, oldest_first: bool
) -> tuple[list[Event], str | None]:
    """Up to ``limit`` events of ``query`` (in its order) that hold ``text`` and match ``pattern``,
    looking at one window of ``_PAGE`` rows at a time; the cursor is the last event returned, or
    the last row looked at when the scan stops at its bound (None when ``query`` is exhausted)."""
    found: list[Event] = []
    scanned, last_id = 0, None
    started = time.monotonic()
    while True:
        window = query.filter(**{"id__gt" if oldest_first else "id__lt": last_id}) if last_id else query
        if text:
            # The substring test runs in the database (its own case folding), on this window only.
            ids = list(window.values_list("id", flat=True)[:_PAGE])
            page = list(query.filter(id__in=ids, raw__icontains=text)) if ids else []
        else:
            page = list(window[:_PAGE])
            ids = [event.id for event in page]
        scanned += len(ids)
        for event in page:
            if pattern is None or pattern.matches(envelope_of(event)):
                found.append(event)
                if len(found) == limit:
                    return found, event.id
        if len(ids) < _PAGE:
            return found, None
        last_id = ids[-1]
        if scanned >= SCAN_LIMIT or time.monotonic() - started >= SCAN_SECONDS:
            return found, last_id


def key_ledger(key: str) -> dict[str, Any] | None:
    """The ledger of idempotency key ``key``: ``{"key", "events"`` (flat events, oldest delivery
    first, at most ``LEDGER_LIMIT``)``, "duplicates"`` (deliveries after the first)``, "traces"``
    (their trace ids, first seen first)``}``; None when no event carried it."""
    events = list(Event.objects.filter(idempotency_key=key).only(*LIST_FIELDS).order_by("id")[:LEDGER_LIMIT])
    if not events:
        return None
    traces = list(dict.fromkeys(event.trace_id for event in events if event.trace_id))
    return {
        "key": key,
        "events": [event_json(event) for event in events],
        "duplicates": len(events) - 1,
        "traces": traces,
    }


# How far from the time in its id an event's received time is looked for first: the id is made by
# the process that stores the event, from the clock that gives its received time, within a request.
_ID_TIME_SLACK = timedelta(days=1)


def stored_event(stored_id: str) -> Event | None:
    """The event stored under ``stored_id``, or None.

    On PostgreSQL, where events are partitioned by day of their received time, the lookup first
    asks only the partitions around the time the id carries (a ULID's first 48 bits), so it reads
    one or two partitions' indexes instead of every one; an event not found there (an id made on a
    clock far off) is looked for everywhere."""
    events = Event.objects.filter(id=stored_id)
    if connection.vendor == "postgresql":
        try:
            made = datetime.fromtimestamp(ms_of(stored_id) / 1000, tz=UTC)
            # A crafted id may carry a time near the end of what a datetime holds (9999-12-31).
            window = (made - _ID_TIME_SLACK, made + _ID_TIME_SLACK)
        except (ValueError, OverflowError, OSError):  # not a stored id's shape: no time to go by
            window = None
        if window is not None:
            near = events.filter(received_at__gte=window[0], received_at__lt=window[1])
            event = near.first()
            if event is not None:
                return event
    return events.first()
