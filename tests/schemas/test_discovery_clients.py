"""Discovery through the other real clients against the real server: the CloudEvents SDK, boto3's
PutEvents, and consumers seen through OpenTelemetry SDK spans (links and children)."""

from __future__ import annotations

import json

import pytest
import requests
from cloudevents.v1.conversion import to_binary, to_structured
from cloudevents.v1.http import CloudEvent
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from dashboard.schemas.models import Schema
from tests.support.eventbridge import events_client

pytestmark = pytest.mark.usefixtures("transactional_db")


def schema_of(url: str, token: str, source: str, detail_type: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"}
    listed = requests.get(
        f"{url}/api/schemas", params={"source": source, "detail_type": detail_type}, headers=headers, timeout=10
    ).json()["results"]
    assert len(listed) == 1, listed
    return requests.get(f"{url}/api/schemas/{listed[0]['id']}", headers=headers, timeout=10).json()


def test_cloudevents_make_versions_in_structured_and_binary_mode(live_server_url, token):
    def send(data: dict[str, object], binary: bool = False) -> None:
        event = CloudEvent({"type": "OrderPaid", "source": "/billing"}, data)
        headers, body = (to_binary if binary else to_structured)(event)
        response = requests.post(
            f"{live_server_url}/api/cloudevents",
            data=body,
            headers={**headers, "Authorization": f"Bearer {token.token}"},
            timeout=10,
        )
        assert response.status_code == 200 and response.json()["accepted"] == 1, response.text

    send({"order-id": "o-1", "amount": 42})
    send({"order-id": "o-2", "amount": 7}, binary=True)
    send({"order-id": "o-3", "amount": "42"})
    body = schema_of(live_server_url, token.token, "/billing", "OrderPaid")
    assert [(v["version"], v["events"], v["change"]["kind"]) for v in body["versions"]] == [
        (1, 2, "initial"),
        (2, 1, "breaking"),
    ]
    assert body["versions"][1]["change"]["type_changed"] == [{"path": "/amount", "from": "integer", "to": "string"}]


def test_put_events_make_versions(live_server_url, token):
    events = events_client(live_server_url, token.key_id, token.secret)

    def entry(detail: dict[str, object]) -> dict[str, str]:
        return {"Source": "shop.shipping", "DetailType": "ShipmentPacked", "Detail": json.dumps(detail)}

    answer = events.put_events(Entries=[entry({"shipment-id": "s-1", "weight": 2}), entry({"shipment-id": "s-2"})])
    assert answer["FailedEntryCount"] == 0
    events.put_events(Entries=[entry({"shipment-id": "s-3", "weight": 1, "carrier": "ups"})])
    body = schema_of(live_server_url, token.token, "shop.shipping", "ShipmentPacked")
    # One request of two events: the first makes version 1, the second (no weight) a breaking v2.
    changes = [v["change"] for v in body["versions"]]
    assert [change["kind"] for change in changes] == ["initial", "breaking", "compatible"]
    assert changes[1]["removed"] == ["/weight"] and changes[2]["added"] == ["/carrier"]
    assert body["versions"][1]["first_event_id"] == answer["Entries"][1]["EventId"]


def test_consumers_seen_through_span_links_and_children_are_listed(live_server_url, token):
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server_url}/v1/traces", headers={"Authorization": f"Bearer {token.token}"}
    )

    def tracer(service: str) -> tuple[TracerProvider, trace.Tracer]:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider, provider.get_tracer("tests")

    orders, orders_tracer = tracer("orders")
    billing, billing_tracer = tracer("billing")
    shipping, shipping_tracer = tracer("shipping")
    headers = {"Authorization": f"Bearer {token.token}"}

    def publish_and_consume(detail: dict[str, object], billing_fails: bool) -> None:
        with orders_tracer.start_as_current_span("publish OrderCreated", kind=SpanKind.PRODUCER) as producer:
            context = producer.get_span_context()
            traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
            response = requests.post(
                f"{live_server_url}/api/events",
                json={"source": "shop.orders", "detail-type": "OrderCreated", "detail": detail,
                      "traceparent": traceparent},
                headers=headers,
                timeout=10,
            )  # fmt: skip
            assert response.status_code == 200, response.text
            # shipping processes it as a child of the publishing span, in the same trace.
            with shipping_tracer.start_as_current_span("handle OrderCreated", kind=SpanKind.CONSUMER):
                pass
        # billing processes it in a trace of its own that links to the publishing span.
        with billing_tracer.start_as_current_span(
            "charge for OrderCreated",
            kind=SpanKind.CONSUMER,
            links=[Link(context)],
            context=trace.set_span_in_context(trace.INVALID_SPAN),
        ) as span:
            if billing_fails:
                span.set_status(Status(StatusCode.ERROR, "amount is not a number"))

    publish_and_consume({"order-id": "o-1", "amount": 42}, billing_fails=False)
    publish_and_consume({"order-id": "o-2", "amount": 7}, billing_fails=False)
    publish_and_consume({"order-id": "o-3", "amount": "42"}, billing_fails=True)
    for provider in (orders, billing, shipping):
        provider.shutdown()

    body = schema_of(live_server_url, token.token, "shop.orders", "OrderCreated")
    consumers = {c["service"]: c for c in body["consumers"]}
    assert set(consumers) == {"billing", "shipping"}  # not orders: the publisher
    assert consumers["billing"]["versions"] == [1, 2] and consumers["billing"]["errors"] == 1
    assert consumers["shipping"]["spans"] == 3 and consumers["shipping"]["errors"] == 0
    breaking = body["versions"][1]
    assert breaking["change"]["kind"] == "breaking"
    impact = {entry["service"]: entry for entry in breaking["impact"]}
    assert impact["billing"]["seen"] and impact["billing"]["started_failing"]
    assert impact["billing"]["before"] == {"spans": 2, "errors": 0, "error_rate": 0.0}
    assert impact["billing"]["after"] == {"spans": 1, "errors": 1, "error_rate": 1.0}
    assert not impact["shipping"]["started_failing"]
    assert Schema.objects.get(detail_type="OrderCreated").breaking_changes == 1
