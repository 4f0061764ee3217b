"""Looking an event up by its stored id (``/api/events/<id>``): found by its id, a 404 for any id
that names no event, whatever time a crafted id carries (on PostgreSQL the id's time picks the
partitions to ask first)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def test_an_event_is_found_by_its_stored_id(api: Client) -> None:
    entry = [{"id": "found", "source": "shop", "detail-type": "OrderCreated", "detail": {}}]
    [result] = api.post("/api/events", entry, content_type="application/json").json()["results"]
    assert api.get(f"/api/events/{result['id']}").json()["id"] == result["id"]


@pytest.mark.parametrize(
    "stored_id",
    [
        "76EZ7RSBG00000000000000000",  # the time 9999-12-31: a day later is past what a datetime holds
        "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",  # the largest ULID: past year 9999
        "00000000000000000000000000",  # the time 0 (1970)
        "not-an-id",
    ],
)
def test_an_id_that_names_no_event_is_a_404_whatever_time_it_carries(api: Client, stored_id: str) -> None:
    response = api.get(f"/api/events/{stored_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
