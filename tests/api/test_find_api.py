"""``GET /api/find?q=``: each kind of pasted text resolves to its page; bad input is a 400."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
XRAY_TRACE = "5759e988bd862e3fe1be46a994272793"


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    lifecycle = {
        "name": "order",
        "key": "detail.order-id",
        "steps": ["OrderCreated", "OrderPaid"],
        "timeout_seconds": 900,
    }
    assert client.post("/api/lifecycles", lifecycle, content_type="application/json").status_code == 201
    events = [
        {"source": "shop.orders", "detail-type": "OrderCreated", "id": "evt-1", "detail": {"order-id": "o-2141000060"},
         "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
        {"source": "shop.billing", "detail-type": "OrderPaid", "id": "evt-2",
         "detail": {"order-id": "o-7", "metadata": {"idempotency-key": "pay-o-7"}}},
    ]  # fmt: skip
    response = client.post("/api/events", events, content_type="application/json")
    assert response.status_code == 200, response.content
    client.stored = [r["id"] for r in response.json()["results"]]  # type: ignore[attr-defined]
    span = {"traceId": XRAY_TRACE, "spanId": "53995c3f42cd8ad8", "name": "GET /labels", "kind": 2,
            "startTimeUnixNano": "1772359200000000000", "endTimeUnixNano": "1772359200250000000"}  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "labels"}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}
    assert client.post("/v1/traces", body, content_type="application/json").status_code == 200
    return client


def find(api: Client, q: str) -> list[dict[str, Any]]:
    response = api.get("/api/find", {"q": q})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_trace_id_in_either_form(api: Client) -> None:
    assert find(api, TRACE.upper()) == [{"kind": "trace", "label": f"Trace {TRACE}", "url": f"/traces/{TRACE}/"}]
    xray = f"1-{XRAY_TRACE[:8]}-{XRAY_TRACE[8:]}"
    assert [r["url"] for r in find(api, xray)] == [f"/traces/{XRAY_TRACE}/"]  # a trace of spans only
    assert find(api, "0" * 31 + "1") == []


def test_a_stored_or_producer_event_id(api: Client) -> None:
    stored = api.stored  # type: ignore[attr-defined]
    assert find(api, stored[0]) == [
        {"kind": "event", "label": f"Event {stored[0]}: OrderCreated from shop.orders", "url": f"/events/{stored[0]}/"}
    ]
    assert [(r["kind"], r["url"]) for r in find(api, "evt-2")] == [("event", f"/events/{stored[1]}/")]


def test_a_transaction_key_opens_its_transaction(api: Client) -> None:
    assert find(api, " o-2141000060 ") == [
        {"kind": "transaction", "label": "Transaction o-2141000060 in order (in progress)",
         "url": "/transactions/order/o-2141000060/"},
    ]  # fmt: skip


def test_an_idempotency_key_a_service_and_a_detail_type(api: Client) -> None:
    assert find(api, "pay-o-7") == [{"kind": "key", "label": "Idempotency key pay-o-7", "url": "/keys/pay-o-7/"}]
    assert find(api, "labels") == [{"kind": "service", "label": "Service labels", "url": "/traces/?service=labels"}]
    assert [(r["kind"], r["url"]) for r in find(api, "OrderPaid")] == [
        ("detail_type", "/events/?detail_type=OrderPaid")
    ]
    assert find(api, "nothing of the kind") == []


@pytest.mark.parametrize("q", ["", "   ", "x" * 513])
def test_bad_input_is_a_400(api: Client, q: str) -> None:
    response = api.get("/api/find", {"q": q} if q else {})
    assert response.status_code == 400
    assert response.json()["error"]["where"] == "q"
    # A U+0000 is refused before any lookup (the request's middleware), PostgreSQL or not.
    assert api.get("/api/find", {"q": "a\x00b"}).status_code == 400
