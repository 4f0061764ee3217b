"""``POST /api/cloudevents`` with requests built by the CloudEvents Python SDK, against the real server."""

from __future__ import annotations

import orjson
import pytest
import requests
from cloudevents.core.bindings import http as core_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as CoreCloudEvent
from cloudevents.v1.conversion import to_binary, to_structured
from cloudevents.v1.http import CloudEvent

from dashboard.events.models import Event

pytestmark = pytest.mark.usefixtures("transactional_db")

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def send(url: str, token: str, headers: dict[str, str], body: bytes) -> requests.Response:
    return requests.post(
        f"{url}/api/cloudevents", data=body, headers={**headers, "Authorization": f"Bearer {token}"}, timeout=10
    )


def paid_event(**extra: str) -> CloudEvent:
    attributes = {"type": "OrderPaid", "source": "/billing", "subject": "order/o-1", **extra}
    return CloudEvent(attributes, {"order-id": "o-1", "amount": 42})


def test_structured_mode_maps_type_and_data_and_keeps_other_attributes(live_server_url, token):
    event = paid_event(traceparent=TRACEPARENT, idempotencykey="pay-o-1", tenant="acme")
    headers, body = to_structured(event)
    response = send(live_server_url, token.token, headers, body)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    stored = Event.objects.get(id=response.json()["results"][0]["id"])
    assert (stored.event_id, stored.source, stored.detail_type) == (event["id"], "/billing", "OrderPaid")
    assert stored.detail == {"order-id": "o-1", "amount": 42}
    assert stored.format == "cloudevents"
    assert stored.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and stored.parent_span_id == "00f067aa0ba902b7"
    assert stored.idempotency_key == "pay-o-1"
    assert stored.extra["tenant"] == "acme" and stored.extra["subject"] == "order/o-1"


def test_binary_mode_without_a_content_type_takes_a_json_body_as_json(live_server_url, token):
    # The SDK sends no Content-Type in binary mode when datacontenttype is unset.
    headers, body = to_binary(paid_event(idempotencykey="pay-o-2"))
    assert not any(name.lower() == "content-type" for name in headers)
    response = send(live_server_url, token.token, headers, body)
    assert response.status_code == 200, response.text
    stored = Event.objects.get()
    assert stored.detail == {"order-id": "o-1", "amount": 42}
    assert stored.idempotency_key == "pay-o-2"


def test_binary_mode_from_the_core_binding_with_a_content_type(live_server_url, token):
    event = CoreCloudEvent(
        attributes={
            "type": "StockReserved",
            "source": "/inventory",
            "id": "inv-1",
            "datacontenttype": "application/json",
        },
        data={"sku": "A-1"},
    )
    message = core_http.to_binary(event, JSONFormat())
    response = send(live_server_url, token.token, dict(message.headers), message.body)
    assert response.status_code == 200, response.text
    assert Event.objects.get(event_id="inv-1").detail == {"sku": "A-1"}


def test_a_batch_is_answered_entry_by_entry(live_server_url, token):
    good = orjson.loads(to_structured(paid_event())[1])
    batch = [good, {"specversion": "1.0", "type": "X"}, good]
    response = send(
        live_server_url, token.token, {"Content-Type": "application/cloudevents-batch+json"}, orjson.dumps(batch)
    )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "rejected", "duplicate"]
    assert "source" in response.json()["results"][1]["error"] or "id" in response.json()["results"][1]["error"]


def test_the_idempotency_key_header_applies_to_a_single_event(live_server_url, token):
    headers, body = to_structured(paid_event())
    response = send(live_server_url, token.token, {**headers, "Idempotency-Key": "hdr-1"}, body)
    assert response.status_code == 200
    assert Event.objects.get().idempotency_key == "hdr-1"


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "application/cloudevents+json"}, b"{broken", 400),
        (
            {"Content-Type": "application/cloudevents+json"},
            b'{"specversion": "0.3", "id": "1", "source": "s", "type": "t"}',
            400,
        ),
        ({"Content-Type": "application/cloudevents+json"}, b'{"specversion": "1.0", "source": "s", "type": "t"}', 400),
        ({"Content-Type": "application/cloudevents-batch+json"}, b'{"not": "an array"}', 400),
        ({"Content-Type": "text/plain"}, b"hello", 415),
    ],
)
def test_invalid_cloudevents_are_refused_with_a_clear_4xx(live_server_url, token, headers, body, status):
    response = send(live_server_url, token.token, headers, body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    assert not Event.objects.exists()
