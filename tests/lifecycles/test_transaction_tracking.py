"""Transactions are tracked at ingest: steps, updates, partial out-of-order records, duplicates."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.events.envelope import format_time
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Transaction

pytestmark = pytest.mark.django_db

ORDER = {
    "name": "order",
    "key": "detail.data.order-id",
    "steps": ["OrderCreated", "OrderPaid", "OrderShipped"],
    "timeout_seconds": 900,
}


def event(detail_type: str, order_id: str = "o-1", event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source": "shop.orders",
        "detail-type": detail_type,
        "time": extra.pop("time", None) or format_time(timezone.now()),
        "detail": {"data": {"order-id": order_id, **extra}},
    }
    if event_id:
        out["id"] = event_id
    return out


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    response = client.post("/api/lifecycles", ORDER, content_type="application/json")
    assert response.status_code == 201, response.content
    return client


def send(api: Client, *events: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/events", list(events), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def record(api: Client, key: str = "o-1") -> dict[str, Any]:
    rows = [row for row in api.get("/api/transactions", {"lifecycle": "order"}).json()["results"] if row["key"] == key]
    assert len(rows) == 1, rows
    return rows[0]


def test_steps_in_order_complete_the_transaction(api: Client) -> None:
    send(api, event("OrderCreated"), event("OrderPaid"))
    assert record(api)["status"] == "in_progress"
    answer = send(api, event("OrderShipped"))
    row = record(api)
    assert row["status"] == "complete"
    assert row["out_of_order"] is False
    assert row["missing_steps"] == []
    assert [seen["step"] for seen in row["steps_seen"]] == ["OrderCreated", "OrderPaid", "OrderShipped"]
    assert row["steps_seen"][2]["id"] == answer["results"][0]["id"]
    assert row["duplicates"] == 0


def test_an_update_before_the_first_step_creates_a_partial_out_of_order_record(api: Client) -> None:
    updated = send(api, event("OrderUpdated", note="gift wrap"))["results"][0]["id"]
    row = record(api)
    assert row["steps_seen"] == []
    assert row["missing_steps"] == ["OrderCreated", "OrderPaid", "OrderShipped"]
    assert row["out_of_order"] is True
    assert row["updates"] == 1
    assert row["out_of_order_events"] == [
        {
            "detail-type": "OrderUpdated",
            "kind": "update",
            "id": updated,
            "event_id": updated,
            "time": row["first_seen"],
            "arrived_before": "OrderCreated",
        }
    ]
    send(api, event("OrderCreated"))
    row = record(api)
    assert [seen["step"] for seen in row["steps_seen"]] == ["OrderCreated"]
    assert row["out_of_order"] is True  # the fact stays on the record
    assert Transaction.objects.count() == 1


def test_an_update_after_the_first_step_is_in_order(api: Client) -> None:
    send(api, event("OrderCreated"))
    send(api, event("OrderUpdated"))
    row = record(api)
    assert row["out_of_order"] is False
    assert row["updates"] == 1


def test_paid_without_created_is_a_partial_out_of_order_record(api: Client) -> None:
    send(api, event("OrderPaid"))
    row = record(api)
    assert row["status"] == "in_progress"
    assert row["out_of_order"] is True
    assert row["out_of_order_events"][0]["detail-type"] == "OrderPaid"
    assert row["out_of_order_events"][0]["kind"] == "step"
    assert row["out_of_order_events"][0]["arrived_before"] == "OrderCreated"
    assert row["missing_steps"] == ["OrderCreated", "OrderShipped"]
    listed = api.get("/api/transactions", {"missing_step": "OrderCreated", "out_of_order": "true"}).json()["results"]
    assert [row["key"] for row in listed] == ["o-1"]


def test_a_step_seen_again_is_counted_as_a_duplicate_not_twice(api: Client) -> None:
    send(api, event("OrderCreated", event_id="e-1", time="2026-03-01T10:00:05Z"))
    send(api, event("OrderCreated", event_id="e-2", time="2026-03-01T10:00:00Z"))
    send(api, event("OrderCreated", event_id="e-3", time="2026-03-01T10:00:09Z"))
    row = record(api)
    assert row["duplicates"] == 2
    earliest = {"time": "2026-03-01T10:00:00Z", "id": row["steps_seen"][0]["id"], "event_id": "e-2", "count": 3}
    assert row["steps_seen"] == [{"step": "OrderCreated", **earliest}]
    assert row["out_of_order"] is False
    funnel = api.get("/api/transactions/funnel").json()["lifecycles"][0]
    assert funnel["steps"][0] == {"step": "OrderCreated", "reached": 1, "stuck": 0}
    assert funnel["steps"][1] == {"step": "OrderPaid", "reached": 0, "stuck": 1}


def test_an_event_sent_again_is_not_tracked_again(api: Client) -> None:
    first = send(api, event("OrderCreated", event_id="e-1"))
    again = send(api, event("OrderCreated", event_id="e-1"))
    assert again["results"][0]["status"] == "duplicate"
    row = record(api)
    assert row["duplicates"] == 0
    assert row["steps_seen"][0]["count"] == 1
    assert row["steps_seen"][0]["id"] == first["results"][0]["id"]


def test_one_batch_tracks_each_of_its_events_in_order(api: Client) -> None:
    send(api, event("OrderShipped"), event("OrderCreated"), event("OrderPaid"), event("OrderCreated", "o-2"))
    row = record(api)
    assert row["status"] == "complete"
    assert row["out_of_order"] is True
    assert [fact["detail-type"] for fact in row["out_of_order_events"]] == ["OrderShipped"]
    assert record(api, "o-2")["missing_steps"] == ["OrderPaid", "OrderShipped"]


def test_events_without_the_key_or_outside_the_pattern_are_not_tracked(api: Client) -> None:
    response = api.post(
        "/api/lifecycles",
        {**ORDER, "name": "eu-order", "pattern": {"detail": {"data": {"region": ["eu"]}}}},
        content_type="application/json",
    )
    assert response.status_code == 201
    send(
        api,
        {"source": "shop.orders", "detail-type": "OrderCreated", "detail": {"data": {}}},
        {"source": "shop.orders", "detail-type": "OrderCreated", "detail": {"data": {"order-id": {"nested": 1}}}},
        event("OrderCreated", "o-7", region="us"),
        event("OrderCreated", "o-8", region="eu"),
    )
    fold_pending()
    assert sorted(Transaction.objects.values_list("lifecycle__name", "key")) == [
        ("eu-order", "o-8"),
        ("order", "o-7"),
        ("order", "o-8"),
    ]


def test_numbers_are_keys_too(api: Client) -> None:
    send(api, event("OrderCreated", 42), event("OrderPaid", "42"))
    assert [seen["step"] for seen in record(api, "42")["steps_seen"]] == ["OrderCreated", "OrderPaid"]


def test_links_lead_to_the_events_traces_and_key_ledgers(api: Client) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    created = event("OrderCreated")
    created["traceparent"] = f"00-{trace}-00f067aa0ba902b7-01"
    created["detail"]["metadata"] = {"idempotency-key": "order/o-1"}
    stored = send(api, created)["results"][0]["id"]
    row = record(api)
    assert row["trace_ids"] == [trace]
    assert row["idempotency_keys"] == ["order/o-1"]
    assert row["links"]["traces"] == [f"/traces/{trace}/"]
    assert row["links"]["keys"] == ["/keys/order%2Fo-1/"]
    assert row["links"]["step_events"] == {"OrderCreated": f"/events/{stored}/"}
    assert row["links"]["events"] == "/events/?q=o-1"
    found = api.get(row["links"]["api_events"]).json()["results"]
    assert [item["id"] for item in found] == [stored]
