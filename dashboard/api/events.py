"""``GET /api/events`` (search, newest first, cursor-paged) and ``GET /api/events/<id>``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard.core.endpoints import ingest_endpoint
from dashboard.core.http import ApiError, api_view, json_response
from dashboard.events.queries import search_events, stored_event
from dashboard.events.shapes import event_detail_json, event_json


@api_view("read")
def list_events(request: HttpRequest) -> HttpResponse:
    events, next_cursor = search_events(request.GET)
    return json_response({"results": [event_json(event) for event in events], "next_cursor": next_cursor})


@api_view("read")
def get_event(request: HttpRequest, event_id: str) -> HttpResponse:
    event = stored_event(event_id)
    if event is None:
        raise ApiError(404, "not_found", f"No event with id {event_id!r}.")
    return json_response(event_detail_json(event))


@ingest_endpoint("events")  # a POST is ingest (ingest_events)
@csrf_exempt  # each branch does its own authentication (and CSRF for session writes)
def list_events_or_ingest(request: HttpRequest) -> HttpResponse:
    """``/api/events`` is both the search (GET, scope read) and native ingest (POST, scope ingest)."""
    from dashboard.ingest.native import ingest_events

    if request.method == "POST":
        return ingest_events(request)
    return list_events(request)
