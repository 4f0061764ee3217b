"""``GET /api/servicemap``: event and call edges from spans made by the OpenTelemetry SDK (explicit
times, so every lag is known) and events posted to ingest, in every order of arrival."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.test import Client
from jsonschema import Draft202012Validator
from opentelemetry.trace import SpanKind

from dashboard.api import openapi
from dashboard.events.models import Event
from dashboard.servicemap import fold as fold_module
from dashboard.servicemap.histogram import RATIO
from dashboard.servicemap.models import Pending
from tests.servicemap.otel import T0, Services, iso, publish
from tracing.models import Span, SpanLink

pytestmark = pytest.mark.django_db
WINDOW = {"since": iso(T0 - 3600 * 10**9), "until": iso(T0 + 3600 * 10**9)}
ACCURACY = math.sqrt(RATIO) - 1  # the documented bound: 4.9%


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def service_map(api: Client, **params: str) -> dict[str, Any]:
    response = api.get("/api/servicemap", {**WINDOW, **params})
    assert response.status_code == 200, response.content
    return response.json()


def edges(body: dict[str, Any]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {(edge["kind"], edge["from"], edge["to"], edge["via"]): edge for edge in body["edges"]}


def nearest_rank(values: list[float], fraction: float) -> float:
    return sorted(values)[max(1, math.ceil(fraction * len(values))) - 1]


def test_an_event_edge_counts_its_hops_with_their_lags_and_a_call_edge_its_calls(api: Client) -> None:
    services = Services(api)
    lags = [5.0 + 7.3 * i for i in range(40)]  # 5 ms .. 290 ms
    for i, lag in enumerate(lags):
        at = i * 1000.0
        request = services.span("orders", "POST /orders", at, at + 20, kind=SpanKind.SERVER)
        services.span("payments", "POST /charge", at + 2, at + 8, parent=request, kind=SpanKind.SERVER)
        publisher = services.span(
            "orders", "publish OrderPlaced", at + 10, at + 11, parent=request, kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": "orders-topic",
                        "messaging.operation.type": "publish"},
        )  # fmt: skip
        services.span("billing", "process OrderPlaced", at + 10 + lag, at + 12 + lag, links=[publisher],
                      kind=SpanKind.CONSUMER, attributes={"messaging.operation.type": "process"})  # fmt: skip
        services.send()
        publish(api, publisher, "OrderPlaced", at + 10, event_id=f"e-{i}")

    body = service_map(api)
    found = edges(body)
    event = found[("event", "orders", "billing", "OrderPlaced")]
    assert (event["count"], event["errors"], event["duplicates"]) == (40, 0, 0)
    assert event["sources"] == ["shop"]
    assert event["messaging"] == {"system": "kafka", "destination": "orders-topic", "operation": "process"}
    for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = nearest_rank(lags, fraction)
        assert abs(event["lag_ms"][name] - exact) <= ACCURACY * exact, (name, event["lag_ms"], exact)
    call = found[("call", "orders", "payments", "POST /charge")]
    assert (call["count"], call["errors"]) == (40, 0)
    assert "lag_ms" not in call
    # The publishing span's own child in orders is no edge; the consumer span is no call.
    assert set(found) == {("event", "orders", "billing", "OrderPlaced"), ("call", "orders", "payments", "POST /charge")}
    assert body["services"] == [
        {"name": "billing", "spans": 40, "errors": 0},
        {"name": "orders", "spans": 80, "errors": 0},
        {"name": "payments", "spans": 40, "errors": 0},
    ]
    assert len(event["traces"]) == 5 and len(event["traces"][0]) == 32
    # The answer is as the OpenAPI document describes it (§12's fields, and the documented extras).
    components = openapi.document()["components"]
    Draft202012Validator({**components["schemas"]["ServiceMap"], "components": components}).validate(body)


def test_a_consumer_span_that_arrives_before_its_event_is_matched_when_the_event_arrives(api: Client) -> None:
    services = Services(api)
    publisher = services.span("orders", "publish OrderPlaced", 0, 1, kind=SpanKind.PRODUCER)
    services.span("billing", "process OrderPlaced", 120, 130, links=[publisher], kind=SpanKind.CONSUMER)
    services.send()
    assert service_map(api)["edges"] == []  # folded already, with nothing to match yet
    publish(api, publisher, "OrderPlaced", 20, event_id="late")
    edge = edges(service_map(api))[("event", "orders", "billing", "OrderPlaced")]
    assert edge["count"] == 1
    assert abs(edge["lag_ms"]["p50"] - 100) <= ACCURACY * 100


def test_a_consumer_span_that_arrives_after_its_event_and_publisher_were_folded_is_matched(api: Client) -> None:
    services = Services(api)
    publisher = services.span(
        "orders", "publish OrderPlaced", 0, 1, kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "rabbitmq", "messaging.destination": "orders-exchange"},  # older names
    )  # fmt: skip
    services.send()
    publish(api, publisher, "OrderPlaced", 0, event_id="e-1")
    assert service_map(api)["edges"] == []  # folded: nobody processed it yet
    assert Pending.objects.count() == 0
    later = Services(api)  # the consumer's own process, its own trace, linking back
    later.span("billing", "process OrderPlaced", 250, 260, links=[publisher], kind=SpanKind.CONSUMER,
               attributes={"messaging.operation": "receive"})  # fmt: skip
    later.send()
    edge = edges(service_map(api))[("event", "orders", "billing", "OrderPlaced")]
    assert (edge["count"], edge["errors"], edge["duplicates"]) == (1, 0, 0)
    assert abs(edge["lag_ms"]["p50"] - 250) <= ACCURACY * 250
    assert edge["messaging"] == {"system": "rabbitmq", "destination": "orders-exchange", "operation": "receive"}
    assert service_map(api)["edges"][0]["count"] == 1  # counted once, not again by a later read


def test_a_hop_that_names_only_some_messaging_attributes_keeps_what_earlier_hops_named(api: Client) -> None:
    services = Services(api)
    kafka = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
    hops = [
        (0, kafka, {"messaging.operation.type": "receive"}),
        (60_000, {}, {}),  # a later minute that names nothing: the edge keeps the names above
        (120_000, {}, {"messaging.operation.type": "process"}),  # only the operation: system and destination stay
    ]
    for i, (start, publisher_attributes, consumer_attributes) in enumerate(hops):
        publisher = services.span("orders", "publish", start, start + 1, kind=SpanKind.PRODUCER,
                                  attributes=publisher_attributes)  # fmt: skip
        services.span("billing", "process", start + 5, start + 6, links=[publisher], kind=SpanKind.CONSUMER,
                      attributes=consumer_attributes)  # fmt: skip
        services.send()
        publish(api, publisher, "OrderPlaced", start, event_id=f"e-{i}")
        edge = edges(service_map(api))[("event", "orders", "billing", "OrderPlaced")]
        assert edge["count"] == i + 1
        assert edge["messaging"] == {
            "system": "kafka", "destination": "orders", "operation": "process" if i == 2 else "receive",
        }  # fmt: skip


def test_the_map_is_read_from_the_rollups_not_from_the_spans(api: Client) -> None:
    services = Services(api)
    request = services.span("orders", "POST /orders", 0, 20, kind=SpanKind.SERVER)
    services.span("payments", "POST /charge", 2, 8, parent=request, kind=SpanKind.SERVER)
    publisher = services.span("orders", "publish OrderPlaced", 10, 11, parent=request, kind=SpanKind.PRODUCER)
    services.span("billing", "process OrderPlaced", 40, 50, links=[publisher], kind=SpanKind.CONSUMER)
    services.send()
    publish(api, publisher, "OrderPlaced", 10, event_id="e-1")
    before = service_map(api)
    assert len(before["edges"]) == 2
    # Once folded, the spans, links and events may go (retention): the map of the window stays.
    SpanLink.objects.all().delete()
    Span.objects.all().delete()
    Event.objects.all().delete()
    assert service_map(api) == before


def test_the_publishing_span_may_arrive_last(api: Client) -> None:
    services = Services(api)
    publisher = services.span("orders", "publish OrderPlaced", 0, 1, kind=SpanKind.PRODUCER)
    consumer_services = Services(api)
    consumer_services.span("billing", "process OrderPlaced", 50, 60, links=[publisher], kind=SpanKind.CONSUMER)
    consumer_services.send()
    publish(api, publisher, "OrderPlaced", 0, event_id="e-1")
    assert service_map(api)["edges"] == []
    services.send()
    assert edges(service_map(api))[("event", "orders", "billing", "OrderPlaced")]["count"] == 1


def test_events_folded_before_any_span_of_their_trace_is_stored_are_matched_when_the_spans_arrive(
    api: Client,
) -> None:
    services = Services(api)
    publisher = services.span("orders", "publish OrderPlaced", 0, 1, kind=SpanKind.PRODUCER)
    services.span("billing", "process OrderPlaced", 30, 40, links=[publisher], kind=SpanKind.CONSUMER)
    publish(api, publisher, "OrderPlaced", 0, event_id="early")  # no span exported yet
    assert Pending.objects.count() == 1
    assert service_map(api)["edges"] == []  # folded, with no span to match it with
    assert Pending.objects.count() == 0
    services.send()
    assert edges(service_map(api))[("event", "orders", "billing", "OrderPlaced")]["count"] == 1


def test_a_child_span_of_the_publisher_in_another_service_processed_the_event(api: Client) -> None:
    services = Services(api)
    publisher = services.span("orders", "publish OrderPlaced", 0, 1, kind=SpanKind.PRODUCER)
    services.span("billing", "process OrderPlaced", 30, 40, parent=publisher, kind=SpanKind.CONSUMER)
    services.send()
    publish(api, publisher, "OrderPlaced", 0, event_id="e-1")
    found = edges(service_map(api))
    assert set(found) == {("event", "orders", "billing", "OrderPlaced")}


def test_an_error_consumer_span_counts_in_errors(api: Client) -> None:
    services = Services(api)
    publisher = services.span("orders", "publish OrderPlaced", 0, 1, kind=SpanKind.PRODUCER)
    services.span("billing", "process OrderPlaced", 10, 20, links=[publisher], kind=SpanKind.CONSUMER, error=True)
    services.span("billing", "process OrderPlaced", 500, 520, links=[publisher], kind=SpanKind.CONSUMER)
    services.send()
    publish(api, publisher, "OrderPlaced", 0, event_id="e-1")
    body = service_map(api)
    edge = edges(body)[("event", "orders", "billing", "OrderPlaced")]
    assert (edge["count"], edge["errors"]) == (2, 1)
    assert {"name": "billing", "spans": 2, "errors": 1} in body["services"]


def test_a_retried_delivery_counts_in_duplicates(api: Client) -> None:
    services = Services(api)
    for attempt in range(3):  # the producer publishes again (new trace, new id), under the same key
        at = attempt * 100.0
        publisher = services.span("orders", "publish OrderPlaced", at, at + 1, kind=SpanKind.PRODUCER)
        services.span("billing", "process OrderPlaced", at + 10, at + 12, links=[publisher], kind=SpanKind.CONSUMER,
                      message_id=f"e-{attempt}")  # fmt: skip
        services.send()
        publish(api, publisher, "OrderPlaced", at, event_id=f"e-{attempt}", key="order-1/create")
    edge = edges(service_map(api))[("event", "orders", "billing", "OrderPlaced")]
    assert (edge["count"], edge["duplicates"]) == (3, 2)


def test_a_link_naming_another_event_of_the_same_span_does_not_match(api: Client) -> None:
    services = Services(api)
    publisher = services.span("orders", "publish", 0, 1, kind=SpanKind.PRODUCER)
    services.span("billing", "process", 10, 12, links=[publisher], kind=SpanKind.CONSUMER, message_id="paid")
    services.span("audit", "process", 10, 12, links=[publisher], kind=SpanKind.CONSUMER)  # names none: both
    services.send()
    publish(api, publisher, "OrderPaid", 0, event_id="paid")
    publish(api, publisher, "OrderAudited", 0, event_id="audited")
    assert set(edges(service_map(api))) == {
        ("event", "orders", "billing", "OrderPaid"),
        ("event", "orders", "audit", "OrderPaid"),
        ("event", "orders", "audit", "OrderAudited"),
    }


def test_the_window_filters(api: Client) -> None:
    services = Services(api)
    for hour in (0, 2):
        at = hour * 3_600_000.0
        publisher = services.span("orders", "publish OrderPlaced", at, at + 1, kind=SpanKind.PRODUCER)
        services.span("billing", "process OrderPlaced", at + 5, at + 6, links=[publisher], kind=SpanKind.CONSUMER)
        services.send()
        publish(api, publisher, "OrderPlaced", at, event_id=f"e-{hour}")

    def count(since_ms: float, until_ms: float) -> int:
        body = service_map(api, since=iso(T0 + int(since_ms * 1e6)), until=iso(T0 + int(until_ms * 1e6)))
        return sum(edge["count"] for edge in body["edges"])

    assert count(-60_000, 60_000) == 1
    assert count(60_000, 7_200_000) == 0  # the minute of 12:00 starts at the window's end
    assert count(60_000, 7_260_000) == 1
    assert count(-60_000, 4 * 3_600_000) == 2  # whole hours read from the hour rows
    assert count(-3_600_000 * 5, 3_600_000 * 5) == 2
    assert service_map(api, since=iso(T0 + 3_600_000 * 10**6), until=iso(T0 + 5_400_000 * 10**6))["services"] == []


def test_a_retried_export_and_any_fold_size_count_each_hop_once(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold_module, "MAX_BATCHES", 1)  # folds take one batch: the rest is held
    services = Services(api)
    sent: list[Any] = []
    for i in range(6):
        publisher = services.span("orders", "publish OrderPlaced", i * 10.0, i * 10.0 + 1, kind=SpanKind.PRODUCER)
        services.span("billing", "process OrderPlaced", i * 10.0 + 3, i * 10.0 + 4, links=[publisher],
                      kind=SpanKind.CONSUMER)  # fmt: skip
        spans = services.exporter.get_finished_spans()
        sent.append(spans)
        services.send()
        publish(api, publisher, "OrderPlaced", i * 10.0, event_id=f"e-{i}")
        if i % 2:  # the exporter retries a batch already stored
            from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

            body = encode_spans(spans).SerializeToString()
            assert api.post("/v1/traces", body, content_type="application/x-protobuf").status_code == 200
    assert Pending.objects.count() == 15
    body = service_map(api)
    assert Pending.objects.count() == 0
    assert edges(body)[("event", "orders", "billing", "OrderPlaced")]["count"] == 6
    assert {"name": "orders", "spans": 6, "errors": 0} in body["services"]


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "2026-03-01T11:00:00Z", "until": "2026-03-01T10:00:00Z"}, "since"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-03-01T10:00:00Z"}, "since"),
        ({"until": "0001-01-01T00:30:00Z"}, "until"),
    ],
)
def test_bad_times_are_a_400(api: Client, params: dict[str, str], where: str) -> None:
    response = api.get("/api/servicemap", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert response.json()["error"]["where"] == where


def test_it_needs_the_read_scope(client: Client, make_token: Any) -> None:
    assert client.get("/api/servicemap").status_code == 401
    ingest_only = make_token("ingest")
    assert client.get("/api/servicemap", HTTP_AUTHORIZATION=f"Bearer {ingest_only.token}").status_code == 403
