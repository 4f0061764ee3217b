"""``GET /api/keys/<idempotency_key>``: every event that carried a key — the key's ledger."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard.core.http import ApiError, api_view, json_response
from dashboard.events.queries import key_ledger


@api_view("read")
def get_key(request: HttpRequest, key: str) -> HttpResponse:
    ledger = key_ledger(key)
    if ledger is None:
        raise ApiError(404, "not_found", f"No event carried the idempotency key {key!r}.")
    return json_response(ledger)
