"""``GET /api/transactions/<lifecycle>/<key>`` and ``GET /api/lifecycles/<name>/timings``."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ORDER = {
    "name": "order",
    "key": "detail.order-id",
    "steps": ["OrderCreated", "OrderPaid", "OrderShipped"],
    "timeout_seconds": 900,
}


def ev(detail_type: str, order: str, time: str, source: str = "shop.orders", **extra: Any) -> dict[str, Any]:
    return {"source": source, "detail-type": detail_type, "time": time, "detail": {"order-id": order}, **extra}


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    assert client.post("/api/lifecycles", ORDER, content_type="application/json").status_code == 201
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    events = [
        ev("OrderCreated", "o-1", "2026-01-01T00:00:00Z", traceparent=f"00-{trace}-00f067aa0ba902b7-01"),
        ev("OrderPaid", "o-1", "2026-01-01T00:00:01Z", source="shop.payments"),
        ev("OrderShipped", "o-1", "2026-01-01T00:00:04Z", source="shop.shipping"),
        ev("OrderCreated", "o-2", "2026-01-01T00:00:00Z"),
        ev("OrderPaid", "o-2", "2026-01-01T00:00:03Z", source="shop.payments"),
        ev("OrderUpdated", "o-3", "2026-01-01T00:00:00Z"),
        ev("OrderCreated", "o-3", "2026-01-01T00:00:01Z"),
        ev("OrderShipped", "o-3", "2026-01-01T00:00:02Z", source="shop.shipping"),
    ]
    response = client.post("/api/events", events, content_type="application/json")
    assert response.status_code == 200, response.content
    return client


def test_a_transaction_lists_its_steps_in_order_with_times_and_gaps(api: Client) -> None:
    response = api.get("/api/transactions/order/o-1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["key"] == "o-1"
    assert body["status"] == "complete"
    assert [(s["step"], s["seen"], s["since_previous_ms"]) for s in body["steps"]] == [
        ("OrderCreated", True, None),
        ("OrderPaid", True, 1000.0),
        ("OrderShipped", True, 3000.0),
    ]
    first = body["steps"][0]
    assert first["time"] == "2026-01-01T00:00:00Z"
    assert first["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert body["steps"][1]["trace_id"] is None
    event = api.get(f"/api/events/{first['event_id']}").json()
    assert event["detail-type"] == "OrderCreated"
    assert body["out_of_order_facts"] == []
    assert body["updates"] == 0


def test_a_missing_step_says_who_usually_sends_it(api: Client) -> None:
    body = api.get("/api/transactions/order/o-3").json()
    paid = body["steps"][1]
    assert paid == {
        "step": "OrderPaid", "seen": False, "time": None, "event_id": None, "trace_id": None,
        "since_previous_ms": None, "usual_source": "shop.payments",
    }  # fmt: skip
    # The gap runs from the nearest earlier seen step.
    assert body["steps"][2]["since_previous_ms"] == 1000.0
    assert body["updates"] == 1
    assert body["out_of_order"] is True
    assert body["out_of_order_facts"] == body["out_of_order_events"] != []
    shipped = api.get("/api/transactions/order/o-2").json()["steps"][2]
    assert shipped["usual_source"] == "shop.shipping"


def test_unknown_lifecycle_or_key_is_404(api: Client) -> None:
    for path in ("/api/transactions/order/nope", "/api/transactions/refund/o-1"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_a_lifecycle_name_and_key_may_hold_slashes(api: Client) -> None:
    lifecycle = {**ORDER, "name": "shop/order"}
    assert api.post("/api/lifecycles", lifecycle, content_type="application/json").status_code == 201
    assert (
        api.post(
            "/api/events", [ev("OrderCreated", "a/b", "2026-01-01T00:00:00Z")], content_type="application/json"
        ).status_code
        == 200
    )
    body = api.get("/api/transactions/shop/order/a/b").json()
    assert (body["lifecycle"], body["key"]) == ("shop/order", "a/b")


def test_timings_per_consecutive_step_pair(api: Client) -> None:
    response = api.get("/api/lifecycles/order/timings")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == [
        {"from": "OrderCreated", "to": "OrderPaid", "count": 2, "p50_ms": 1000.0, "p95_ms": 3000.0, "p99_ms": 3000.0},
        {"from": "OrderPaid", "to": "OrderShipped", "count": 1, "p50_ms": 3000.0, "p95_ms": 3000.0, "p99_ms": 3000.0},
    ]
    assert api.get("/api/lifecycles/nope/timings").status_code == 404


def test_read_scope_is_required(client: Client, make_token: Any) -> None:
    assert client.get("/api/lifecycles/order/timings").status_code == 401
    ingest_only = make_token("ingest")
    headers = {"Authorization": f"Bearer {ingest_only.token}"}
    assert client.get("/api/transactions/order/o-1", headers=headers).status_code == 403
