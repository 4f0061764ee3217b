"""``GET /api/events?after=<stored id>``: what a reconnecting live view missed, oldest first."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)


def _ingest(client: Client, auth: dict[str, str], detail_types: list[str]) -> list[str]:
    body = [{"source": "shop", "detail-type": name, "detail": {"i": i}} for i, name in enumerate(detail_types)]
    response = client.post("/api/events", body, content_type="application/json", headers=auth)
    assert response.status_code == 200
    return [result["id"] for result in response.json()["results"]]


def test_after_lists_the_events_stored_since_oldest_first(auth: dict[str, str]) -> None:
    client = Client()
    (seen,) = _ingest(client, auth, ["Seen"])
    missed = _ingest(client, auth, ["A", "B", "C"])
    response = client.get(f"/api/events?after={seen}", headers=auth)
    assert response.status_code == 200
    assert [event["id"] for event in response.json()["results"]] == missed


def test_after_pages_forward_with_next_cursor_and_honours_the_pattern(auth: dict[str, str]) -> None:
    client = Client()
    (seen,) = _ingest(client, auth, ["Seen"])
    missed = _ingest(client, auth, ["A", "B", "A", "B", "A"])
    wanted = [event_id for event_id, name in zip(missed, "ABABA", strict=True) if name == "A"]
    pattern = '{"detail-type": ["A"]}'
    first = client.get("/api/events", {"after": seen, "limit": 2, "pattern": pattern}, headers=auth).json()
    assert [event["id"] for event in first["results"]] == wanted[:2]
    assert first["next_cursor"] == wanted[1]
    rest = client.get("/api/events", {"after": first["next_cursor"], "pattern": pattern}, headers=auth).json()
    assert [event["id"] for event in rest["results"]] == wanted[2:]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "query", ["after=not-an-id", "after=01JAAAAAAAAAAAAAAAAAAAAAAA&cursor=01JAAAAAAAAAAAAAAAAAAAAAAA"]
)
def test_a_bad_after_is_a_400(auth: dict[str, str], query: str) -> None:
    response = Client().get(f"/api/events?{query}", headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"


def test_without_after_the_search_stays_newest_first(auth: dict[str, str], token: Any) -> None:
    client = Client()
    ids = _ingest(client, auth, ["A", "B"])
    response = client.get("/api/events", headers=auth).json()
    assert [event["id"] for event in response["results"]] == ids[::-1]
