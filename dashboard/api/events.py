"""``GET /api/events`` (search, newest first, cursor-paged) and ``GET /api/events/<id>``."""

from __future__ import annotations

import re
import time
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.core.endpoints import ingest_endpoint
from dashboard.core.http import ApiError, api_view, json_response
from dashboard.core.numbers import whole_number
from dashboard.events.envelope import EntryError, parse_time
from dashboard.events.models import Event
from dashboard.events.shapes import LIST_FIELDS, envelope_of, event_detail_json, event_json
from dashboard.patterns.engine import CompiledPattern, PatternError, compile_pattern

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
# A pattern is matched in Python, and q= is a substring search the database cannot index, both
# after the indexed filters. One request scans at most this many rows, or for at most this many
# seconds, and hands back a cursor to go on from: a rare pattern or text never turns into an
# unbounded scan, and no request holds the CPU for long.
SCAN_LIMIT = 20_000
SCAN_SECONDS = 1.0
MAX_TEXT_LENGTH = 200
_PAGE = 500
_CURSOR = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _int_param(request: HttpRequest, name: str, default: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw)
    if value is None or not 1 <= value <= high:
        raise ApiError(400, "invalid_parameter", f"'{name}' must be a whole number from 1 to {high}.")
    return value


def _time_param(request: HttpRequest, name: str) -> Any:
    raw = request.GET.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw, name)
    except EntryError as err:
        raise ApiError(400, "invalid_parameter", str(err)) from None


def parse_pattern_param(raw: str | None) -> CompiledPattern | None:
    if not raw:
        return None
    try:
        return compile_pattern(raw)  # as text: too long, not JSON or too deep is said as such
    except PatternError as err:
        raise ApiError(400, "invalid_pattern", f"Invalid event pattern: {err}") from None


def _text_param(request: HttpRequest) -> str:
    text = request.GET.get("q", "")
    if len(text) > MAX_TEXT_LENGTH:
        raise ApiError(400, "invalid_parameter", f"'q' is longer than {MAX_TEXT_LENGTH} characters.")
    return text


def filtered_events(request: HttpRequest, pattern: CompiledPattern | None) -> QuerySet[Event]:
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
        value = request.GET.get(param)
        if value:
            query = query.filter(**{column: value.lower() if param == "trace_id" else value})
    since, until = _time_param(request, "since"), _time_param(request, "until")
    if since:
        query = query.filter(time__gte=since)
    if until:
        query = query.filter(time__lt=until)
    if pattern is not None:
        for field, column in (("source", "source"), ("detail-type", "detail_type")):
            pinned = pattern.pinned_values(field)
            if pinned is not None:
                query = query.filter(**{f"{column}__in": sorted(pinned)})
    cursor = request.GET.get("cursor")
    if cursor:
        if not _CURSOR.match(cursor):
            raise ApiError(400, "invalid_cursor", "'cursor' is not a cursor this API gave out.")
        query = query.filter(id__lt=cursor)
    after = request.GET.get("after")
    if after:
        # Resuming a live view: what was stored after the last event it showed, oldest first.
        if not _CURSOR.match(after) or cursor:
            raise ApiError(400, "invalid_parameter", "'after' must be a stored event id, without 'cursor'.")
        return query.filter(id__gt=after).order_by("id")
    return query.order_by("-id")


def search_events(request: HttpRequest) -> tuple[list[Event], str | None]:
    """One page of a search and the cursor of the next page (None on the last).

    With ``pattern`` or ``q``, at most ``SCAN_LIMIT`` rows (or ``SCAN_SECONDS`` of work) are looked
    at; a page may then hold fewer than ``limit`` events, or none, with a cursor to go on from.
    """
    limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    pattern = parse_pattern_param(request.GET.get("pattern"))
    text = _text_param(request)
    query = filtered_events(request, pattern).only(*LIST_FIELDS, "account", "region")
    if pattern is None and not text:
        rows = list(query[: limit + 1])
        return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)
    return _scan(query, limit, pattern, text, oldest_first=bool(request.GET.get("after")))


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


@api_view("read")
def list_events(request: HttpRequest) -> HttpResponse:
    events, next_cursor = search_events(request)
    return json_response({"results": [event_json(event) for event in events], "next_cursor": next_cursor})


@api_view("read")
def get_event(request: HttpRequest, event_id: str) -> HttpResponse:
    event = Event.objects.filter(id=event_id).first()
    if event is None:
        raise ApiError(404, "not_found", f"No event with id {event_id!r}.")
    return json_response(event_detail_json(event))


@ingest_endpoint  # a POST is ingest (ingest_events)
@csrf_exempt  # each branch does its own authentication (and CSRF for session writes)
def list_events_or_ingest(request: HttpRequest) -> HttpResponse:
    """``/api/events`` is both the search (GET, scope read) and native ingest (POST, scope ingest)."""
    from dashboard.ingest.native import ingest_events

    if request.method == "POST":
        return ingest_events(request)
    return list_events(request)
