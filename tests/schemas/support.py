"""Helpers of the schema tests: native ingest through the real endpoint, and reading versions back."""

from __future__ import annotations

from typing import Any

import orjson
from django.test import Client

from dashboard.events.models import Event
from dashboard.schemas.models import Schema, SchemaVersion

SOURCE, TYPE = "shop.orders", "OrderCreated"


def send(client: Client, auth: dict[str, str], *details: Any, detail_type: str = TYPE, **extra: Any) -> list[str]:
    """POST the details as native events of one type, in one request; their stored ids."""
    body = [{"source": SOURCE, "detail-type": detail_type, "detail": detail, **extra} for detail in details]
    response = client.post("/api/events", data=orjson.dumps(body), content_type="application/json", headers=auth)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert all(result["status"] == "accepted" for result in results), results
    return [result["id"] for result in results]


def versions(detail_type: str = TYPE, source: str = SOURCE) -> list[SchemaVersion]:
    schema = Schema.objects.get(source=source, detail_type=detail_type)
    return list(SchemaVersion.objects.filter(schema=schema).order_by("number"))


def version_of_events(detail_type: str = TYPE, source: str = SOURCE) -> dict[str, int]:
    """Stored id -> the version it was counted in: a version's events run from its first event to
    the next version's first (stored ids grow in arrival order)."""
    starts = [(version.first_event_id, version.number) for version in versions(detail_type, source)]
    out = {}
    for event_id in Event.objects.filter(source=source, detail_type=detail_type).values_list("id", flat=True):
        out[event_id] = max(number for first, number in starts if first <= event_id)
    return out


def api_schema(client: Client, auth: dict[str, str], detail_type: str = TYPE) -> dict[str, Any]:
    schema = Schema.objects.get(source=SOURCE, detail_type=detail_type)
    response = client.get(f"/api/schemas/{schema.id}", headers=auth)
    assert response.status_code == 200, response.content
    return response.json()
