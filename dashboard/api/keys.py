"""``GET /api/keys/<idempotency_key>``: every event that carried a key — the key's ledger."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from dashboard.core.http import ApiError, api_view, json_response
from dashboard.events.models import Event
from dashboard.events.shapes import LIST_FIELDS, event_json

LEDGER_LIMIT = 1000


def key_ledger(key: str) -> dict[str, Any] | None:
    """The ledger of ``key`` (oldest delivery first), or None when no event carried it."""
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


@api_view("read")
def get_key(request: HttpRequest, key: str) -> HttpResponse:
    ledger = key_ledger(key)
    if ledger is None:
        raise ApiError(404, "not_found", f"No event carried the idempotency key {key!r}.")
    return json_response(ledger)
