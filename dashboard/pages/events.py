"""``/events/`` (search, newest first, cursor-paged) and ``/events/<id>/`` (one event)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from dashboard.core.errors import Problem
from dashboard.events.models import Event
from dashboard.events.queries import key_ledger, search_events, stored_event
from dashboard.events.shapes import envelope_of, original_body
from dashboard.lifecycles.lookup import transactions_of_event
from dashboard.pages.site import not_found_page
from dashboard.schemas.models import Schema
from dashboard.servicemap.queries import event_consumers
from tracing.ledger import delivery_kinds
from tracing.models import Span

#: The search form's fields, in the API's spelling (docs/api.md).
FILTERS = (
    "source", "detail_type", "trace_id", "idempotency_key", "since", "until", "q", "pattern", "limit", "schema_valid",
)  # fmt: skip
PREVIEW_CHARS = 140
# <input type="datetime-local"> sends a local time without an offset; the form labels it UTC.
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _search_params(query: QueryDict) -> QueryDict:
    """The form's values as the search takes them: times from the date picker become UTC."""
    params = query.copy()
    for name in ("since", "until"):
        value = params.get(name, "").strip()
        if _LOCAL_TIME.match(value):
            params[name] = value + ("Z" if value.count(":") == 2 else ":00Z")
    return params


def _preview(detail: Any) -> str:
    text = orjson.dumps(detail).decode()
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


@login_required
def event_list(request: HttpRequest) -> HttpResponse:
    form = {name: request.GET.get(name, "") for name in FILTERS}
    error, status = "", 200
    events: list[Event] = []
    next_cursor = None
    try:
        events, next_cursor = search_events(_search_params(request.GET))
    except Problem as problem:
        error, status = problem.message, problem.status
    kept = {name: value for name, value in form.items() if value}
    older = "?" + urlencode({**kept, "cursor": next_cursor}) if next_cursor else ""
    rows = [{"event": event, "preview": _preview(event.detail)} for event in events]
    return render(
        request,
        "dashboard/events.html",
        {
            "form": form,
            "rows": rows,
            "error": error,
            "older_url": older,
            "newest_url": "?" + urlencode(kept) if request.GET.get("cursor") else "",
            "filtered": bool(kept),
        },
        status=status,
    )


@login_required
def event_detail(request: HttpRequest, event_id: str) -> HttpResponse:
    event = stored_event(event_id)
    if event is None:
        return not_found_page(
            request,
            what=f"No event with the id {event_id}",
            detail="It may have been removed by retention, or the id is mistyped. Search the events instead.",
        )
    publisher = None
    if event.trace_id and event.parent_span_id:
        publisher = (
            Span.objects.filter(trace_id=event.trace_id, span_id=event.parent_span_id)
            .only("span_id", "name", "service", "status_code")
            .first()
        )
    ledger = key_ledger(event.idempotency_key) if event.idempotency_key else None
    deliveries = []
    if ledger is not None:
        deliveries = [
            {"event": item, "kind": kind, "current": item["id"] == event.id}
            for item, kind in zip(ledger["events"], delivery_kinds(ledger["events"]), strict=True)
        ]
    return render(
        request,
        "dashboard/event.html",
        {
            "event": event,
            "publisher": publisher,
            "deliveries": deliveries,
            "envelope": envelope_of(event),
            "original": original_body(event),
            "extra": event.extra,
            "transactions": transactions_of_event(event),
            # Checked against a pinned schema version at ingest: the page links the type's schema.
            "schema": (
                Schema.objects.filter(source=event.source, detail_type=event.detail_type).only("id").first()
                if event.schema_error is not None
                else None
            ),
            "consumers": event_consumers(event, publisher),
        },
    )
