"""Bounded work per search: ``q=`` has a maximum length, and a search by text or pattern looks at a
bounded number of rows per request, handing back a cursor that goes on where it stopped."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import Client

from dashboard.events import queries as search

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


@pytest.fixture
def stored(api: Client) -> list[str]:
    """Twelve events, oldest first; only the two oldest mention "needle" (once in capitals)."""
    events = [
        {"id": f"e-{i}", "source": "shop", "detail-type": "OrderCreated", "detail": {"note": "hay", "n": i}}
        for i in range(12)
    ]
    events[0]["detail"]["note"] = "a needle"
    events[1]["detail"]["note"] = "a NEEDLE"
    response = api.post("/api/events", orjson.dumps(events), content_type="application/json")
    assert response.status_code == 200, response.content
    return [result["id"] for result in response.json()["results"]]


@pytest.fixture
def small_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of 2 rows and at most 4 rows a request, so twelve events take several requests."""
    monkeypatch.setattr(search, "_PAGE", 2)
    monkeypatch.setattr(search, "SCAN_LIMIT", 4)


def every_page(api: Client, **params: Any) -> list[dict[str, Any]]:
    """Each page of a search, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        body = api.get("/api/events", {**params, **({"cursor": cursor} if cursor else {})}).json()
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_a_text_longer_than_200_characters_is_a_400(api: Client, stored: list[str]) -> None:
    assert api.get("/api/events", {"q": "x" * search.MAX_TEXT_LENGTH}).status_code == 200
    response = api.get("/api/events", {"q": "x" * (search.MAX_TEXT_LENGTH + 1)})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert "200 characters" in response.json()["error"]["message"]


def test_a_text_search_stops_at_its_bound_and_the_cursor_goes_on(
    api: Client, stored: list[str], small_scans: None
) -> None:
    pages = every_page(api, q="needle")
    assert pages[0] == {"results": [], "next_cursor": stored[-4]}  # the four newest looked at, none holds it
    assert [[e["id"] for e in page["results"]] for page in pages] == [[], [], [stored[1], stored[0]], []]


def test_a_text_search_resuming_a_live_view_goes_oldest_first(
    api: Client, stored: list[str], small_scans: None
) -> None:
    body = api.get("/api/events", {"q": "hay", "after": stored[0]}).json()
    assert [e["id"] for e in body["results"]] == stored[2:5]
    assert body["next_cursor"] == stored[4]


def test_a_pattern_search_stops_at_its_bound_and_the_cursor_goes_on(
    api: Client, stored: list[str], small_scans: None
) -> None:
    pattern = orjson.dumps({"detail": {"n": [{"numeric": ["<", 2]}]}}).decode()
    pages = every_page(api, pattern=pattern)
    assert pages[0] == {"results": [], "next_cursor": stored[-4]}
    assert [e["id"] for page in pages for e in page["results"]] == [stored[1], stored[0]]


def test_a_scan_out_of_time_answers_what_it_found_with_a_cursor(
    api: Client, stored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "_PAGE", 3)
    monkeypatch.setattr(search, "SCAN_SECONDS", 0.0)  # every request looks at one window, then stops
    pages = every_page(api, q="a")
    assert [len(page["results"]) for page in pages] == [3, 3, 3, 3, 0]
    assert [e["id"] for page in pages for e in page["results"]] == stored[::-1]


def test_text_and_pattern_together_narrow_each_other(api: Client, stored: list[str], small_scans: None) -> None:
    pattern = orjson.dumps({"detail": {"n": [1]}}).decode()
    found = [e["id"] for page in every_page(api, q="needle", pattern=pattern) for e in page["results"]]
    assert found == [stored[1]]
