"""Changing or deleting a lifecycle that has transactions: ``/api/lifecycles/<name>`` and the admin.

Records follow a new timeout and steps added at the end; changes that would make their seen-steps
wrong (reordering, renaming, removing steps) are refused with the reason.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.events.envelope import format_time
from dashboard.lifecycles.models import Lifecycle, Transaction
from tests.lifecycles.test_lifecycles_admin import form

pytestmark = pytest.mark.django_db

ORDER = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 900}
AN_HOUR_AGO = timezone.now() - timedelta(hours=1)


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    assert client.post("/api/lifecycles", ORDER, content_type="application/json").status_code == 201
    return client


def send(api: Client, detail_type: str, key: str = "o-1") -> None:
    event = {"source": "shop", "detail-type": detail_type, "time": format_time(AN_HOUR_AGO)}
    event["detail"] = {"order-id": key}
    assert api.post("/api/events", event, content_type="application/json").json()["accepted"] == 1


def patch(api: Client, change: Any, name: str = "order") -> Any:
    return api.patch(f"/api/lifecycles/{name}", change, content_type="application/json")


def row(api: Client, key: str = "o-1") -> dict[str, Any]:
    rows = [r for r in api.get("/api/transactions").json()["results"] if r["key"] == key]
    assert len(rows) == 1, rows
    return rows[0]


def test_a_longer_timeout_moves_every_deadline_and_status(api: Client) -> None:
    send(api, "OrderCreated")
    before = row(api)
    assert before["status"] == "incomplete"  # an hour old, 15 minutes allowed
    response = patch(api, {"timeout_seconds": 7200})
    assert response.status_code == 200, response.content
    assert response.json()["timeout_seconds"] == 7200
    after = row(api)
    assert after["status"] == "in_progress"
    assert after["deadline"] == format_time(AN_HOUR_AGO + timedelta(hours=2))
    assert after["overdue_at"] is None
    stored = Transaction.objects.get()
    assert (stored.status, stored.overdue_at) == ("in_progress", None)  # what the sweep would persist
    assert patch(api, {"timeout_seconds": 60}).status_code == 200
    stored.refresh_from_db()
    assert stored.status == "incomplete"
    assert format_time(stored.overdue_at) == format_time(AN_HOUR_AGO + timedelta(minutes=1))


def test_a_step_added_at_the_end_is_missing_from_every_record(api: Client) -> None:
    send(api, "OrderCreated")
    send(api, "OrderPaid")
    assert row(api)["status"] == "complete"
    response = patch(api, {"steps": ["OrderCreated", "OrderPaid", "OrderShipped"], "timeout_seconds": 86400})
    assert response.status_code == 200, response.content
    after = row(api)
    assert (after["status"], after["missing_steps"]) == ("in_progress", ["OrderShipped"])
    funnel = api.get("/api/transactions/funnel").json()["lifecycles"][0]
    assert [(s["step"], s["reached"], s["stuck"]) for s in funnel["steps"]] == [
        ("OrderCreated", 1, 0),
        ("OrderPaid", 1, 0),
        ("OrderShipped", 0, 1),
    ]
    send(api, "OrderShipped")
    assert row(api)["status"] == "complete"


@pytest.mark.parametrize(
    "steps",
    [["OrderPaid", "OrderCreated"], ["OrderCreated"], ["OrderCreated", "OrderSettled"], ["Placed", "OrderCreated"]],
)
def test_steps_that_would_change_what_records_have_seen_are_refused(api: Client, steps: list[str]) -> None:
    send(api, "OrderCreated")
    response = patch(api, {"steps": steps})
    assert response.status_code == 400
    assert "can only be extended at the end" in response.json()["error"]["message"]
    assert Lifecycle.objects.get().steps == ORDER["steps"]


def test_without_records_the_steps_may_change_freely(api: Client) -> None:
    response = patch(api, {"steps": ["OrderPaid", "OrderCreated"]})
    assert response.status_code == 200
    assert Lifecycle.objects.get().steps == ["OrderPaid", "OrderCreated"]


def test_rename_key_and_pattern_changes_apply_to_what_comes_next(api: Client) -> None:
    send(api, "OrderCreated")
    response = patch(api, {"name": "checkout", "key": "detail.cart-id", "pattern": {"source": ["shop"]}})
    assert response.status_code == 200
    assert api.get("/api/transactions", {"lifecycle": "checkout"}).json()["results"][0]["key"] == "o-1"
    assert api.get("/api/lifecycles/order").status_code == 404
    body = api.get("/api/lifecycles/checkout").json()
    assert (body["key"], body["pattern"]) == ("detail.cart-id", {"source": ["shop"]})
    assert patch(api, {"pattern": None}, name="checkout").json()["pattern"] is None


def test_bad_changes_get_a_400_with_the_reason(api: Client) -> None:
    assert api.post("/api/lifecycles", {**ORDER, "name": "payment"}, content_type="application/json").status_code == 201
    taken = patch(api, {"name": "payment"})
    assert taken.status_code == 409 and "already exists" in taken.json()["error"]["message"]
    for change, reason in (
        ({"timeout_seconds": 0}, "above 0"),
        ({"colour": "blue"}, "Unknown field(s): colour"),
        (["timeout_seconds"], "must be a JSON object"),
    ):
        response = patch(api, change)
        assert response.status_code == 400, change
        assert reason in response.json()["error"]["message"]
    bad_json = api.patch("/api/lifecycles/order", b"{", content_type="application/json")
    assert bad_json.status_code == 400
    assert api.patch("/api/lifecycles/nope", {}, content_type="application/json").status_code == 404
    put = api.put("/api/lifecycles/order", ORDER, content_type="application/json")
    assert (put.status_code, put["Allow"]) == (405, "GET, PATCH, DELETE")
    assert Lifecycle.objects.get(name="order").timeout_seconds == 900


def test_deleting_a_lifecycle_removes_its_records_and_ingest_goes_on(api: Client) -> None:
    send(api, "OrderCreated")
    assert api.delete("/api/lifecycles/order").status_code == 204
    assert not Transaction.objects.exists()
    assert api.get("/api/lifecycles/order").status_code == 404
    send(api, "OrderPaid")  # nothing tracks it any more, and nothing fails
    assert not Transaction.objects.exists()


def test_reading_needs_read_and_changing_needs_operate(api: Client, client: Client, make_token: Any) -> None:
    reader = {"Authorization": f"Bearer {make_token('read').token}"}
    fresh = Client()
    assert fresh.get("/api/lifecycles/order", headers=reader).status_code == 200
    assert fresh.patch("/api/lifecycles/order", {}, content_type="application/json", headers=reader).status_code == 403
    assert fresh.delete("/api/lifecycles/order", headers=reader).status_code == 403
    assert fresh.delete("/api/lifecycles/order").status_code == 401
    assert Lifecycle.objects.filter(name="order").exists()


def test_the_admin_changes_a_lifecycle_as_the_api_does(api: Client, admin: Client) -> None:
    send(api, "OrderCreated")
    url = f"/admin/lifecycles/lifecycle/{Lifecycle.objects.get().pk}/change/"
    refused = admin.post(url, form(steps='["OrderPaid", "OrderCreated"]'))
    assert refused.status_code == 200
    assert "can only be extended at the end" in refused.content.decode()
    assert admin.post(url, form(timeout_seconds="7200")).status_code == 302
    assert row(api)["deadline"] == format_time(AN_HOUR_AGO + timedelta(hours=2))
    assert Transaction.objects.get().status == "in_progress"
