"""``GET /api/services`` and ``GET /api/traces``: every filter, paging, bad input, the summaries kept
as spans arrive (in any order, retried), and spans sent by the OpenTelemetry SDK then searched."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tracing.models import TraceSummary
from tracing.summaries import summarise_pending

pytestmark = pytest.mark.django_db

T0 = 1_772_359_200_000_000_000  # 2026-03-01T10:00:00Z
MS = 1_000_000
TRACES = {name: f"{i:032x}" for i, name in enumerate(["", "checkout", "browse", "ship", "late", "many"]) if name}


def attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": v}

    return [{"key": k, "value": value(v)} for k, v in values.items()]


def span(trace: str, span_id: int, name: str, start_ms: int, duration_ms: int, *, parent: int = 0,
         status: int = 0, **attributes: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "traceId": TRACES[trace], "spanId": f"{span_id:016x}", "parentSpanId": f"{parent:016x}" if parent else "",
        "name": name, "kind": 2, "status": {"code": status},
        "startTimeUnixNano": str(T0 + start_ms * MS), "endTimeUnixNano": str(T0 + (start_ms + duration_ms) * MS),
        "attributes": attrs(attributes),
    }  # fmt: skip


def export(client: Client, service: str, spans: list[dict[str, Any]], **resource: Any) -> None:
    body = {
        "resourceSpans": [
            {"resource": {"attributes": attrs({"service.name": service, **resource})}, "scopeSpans": [{"spans": spans}]}
        ]
    }
    response = client.post("/v1/traces", body, content_type="application/json")
    assert response.status_code == 200, response.content


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    # checkout: orders -> billing (failing), 100 ms; the billing span is sent first (children end first).
    export(client, "billing", [span("checkout", 2, "charge", 10, 50, parent=1, status=2, **{"http.status_code": 500})])
    export(client, "orders", [span("checkout", 1, "POST /orders", 0, 100, customer="c-1", vip=True)])
    export(client, "orders", [span("browse", 3, "GET /orders", 1000, 10, status=1, customer="c-2", ratio=0.5)])
    export(client, "shipping", [span("ship", 4, "ship", 2000, 1000)], **{"deployment.environment": "prod"})
    # late: its root has not arrived; the earliest span stands for it.
    export(client, "shipping", [span("late", 5, "label", 3000, 5, parent=99)])
    batch = [span("many", 10 + i, f"step {i}", 4000 + i, 1, parent=10 if i else 0) for i in range(5)]
    export(client, "orders", batch)
    export(client, "orders", batch)  # a retried export: counted once
    events = [{"source": "shop", "detail-type": "OrderPaid", "detail": {},
               "traceparent": f"00-{TRACES['checkout']}-{2:016x}-01"}] * 2  # fmt: skip
    events = [{**event, "id": f"e-{i}"} for i, event in enumerate(events)]
    assert client.post("/api/events", events, content_type="application/json").status_code == 200
    return client


def search(api: Client, *attr: str, **params: str) -> list[str]:
    response = api.get("/api/traces", {**params, **({"attr": list(attr)} if attr else {})})
    assert response.status_code == 200, response.content
    names = {trace_id: name for name, trace_id in TRACES.items()}
    return [names[row["trace_id"]] for row in response.json()["results"]]


def test_services_list_their_span_names_and_counts(api: Client) -> None:
    response = api.get("/api/services")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [row["name"] for row in results] == ["billing", "orders", "shipping"]
    orders = results[1]
    assert orders["span_names"] == ["GET /orders", "POST /orders", "step 0", "step 1", "step 2", "step 3", "step 4"]
    assert orders["spans"] == 7
    assert orders["last_seen"] == "2026-03-01T10:00:04.004000000Z"


def test_a_result_describes_the_whole_trace(api: Client) -> None:
    rows = api.get("/api/traces", {"service": "billing"}).json()["results"]
    assert rows == [
        {
            "trace_id": TRACES["checkout"], "root_service": "orders", "root_name": "POST /orders",
            "start": "2026-03-01T10:00:00.000000000Z", "duration_ms": 100.0, "span_count": 2, "error_count": 1,
            "services": ["billing", "orders"], "event_count": 2,
        }
    ]  # fmt: skip
    late = api.get("/api/traces", {"service": "shipping", "name": "label"}).json()["results"][0]
    assert (late["root_service"], late["root_name"]) == ("shipping", "label")
    many = api.get("/api/traces", {"name": "step 3"}).json()["results"][0]
    assert (many["span_count"], many["root_name"], many["duration_ms"]) == (5, "step 0", 5.0)


def test_newest_first_without_filters(api: Client) -> None:
    assert search(api) == ["many", "late", "ship", "browse", "checkout"]


def test_each_filter_narrows_the_search(api: Client) -> None:
    assert search(api, service="orders") == ["many", "browse", "checkout"]
    assert search(api, name="charge") == ["checkout"]
    assert search(api, service="orders", name="charge") == []  # the span of that service
    assert search(api, service="billing", name="charge") == ["checkout"]
    assert search(api, name="no such span") == []
    assert search(api, status="error") == ["checkout"]
    assert search(api, status="ok") == ["browse"]
    assert search(api, status="unset") == ["many", "late", "ship", "checkout"]
    assert search(api, min_duration_ms="100") == ["ship", "checkout"]
    assert search(api, min_duration_ms="100.5") == ["ship"]
    assert search(api, max_duration_ms="10") == ["many", "late", "browse"]
    assert search(api, min_duration_ms="5", max_duration_ms="10") == ["many", "late", "browse"]
    assert search(api, since="2026-03-01T10:00:01Z") == ["many", "late", "ship", "browse"]
    assert search(api, until="2026-03-01T10:00:01Z") == ["checkout"]
    assert search(api, since="9999-12-31T23:59:59Z") == []
    assert search(api, until="0001-01-01T00:00:00Z") == []
    assert search(api, service="orders", status="error", min_duration_ms="50") == ["checkout"]


def test_attributes_match_span_and_resource_attributes_as_text(api: Client) -> None:
    assert search(api, "customer=c-1") == ["checkout"]
    assert search(api, "http.status_code=500") == ["checkout"]  # a whole number, as text
    assert search(api, "vip=true") == ["checkout"]
    assert search(api, "deployment.environment=prod") == ["ship"]  # a resource attribute
    assert search(api, "service.name=shipping") == ["late", "ship"]
    assert search(api, "customer=c-1", "vip=true") == ["checkout"]
    assert search(api, "customer=c-1", "customer=c-2") == []
    assert search(api, "customer=c") == []  # exact match
    assert search(api, "ratio=0.5") == []  # doubles are not indexed
    assert search(api, "customer=c-2", service="orders", status="ok") == ["browse"]


def test_pages_follow_the_cursor(api: Client) -> None:
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    names = {trace_id: name for name, trace_id in TRACES.items()}
    while True:
        body = api.get("/api/traces", params).json()
        seen += [names[row["trace_id"]] for row in body["results"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == ["many", "late", "ship", "browse", "checkout"]
    cursor = api.get("/api/traces", {"limit": "1", "service": "orders"}).json()["next_cursor"]
    assert search(api, service="orders", cursor=cursor) == ["browse", "checkout"]


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"min_duration_ms": "fast"}, "min_duration_ms"),
        ({"min_duration_ms": "-1"}, "min_duration_ms"),
        ({"max_duration_ms": "NaN"}, "max_duration_ms"),
        ({"max_duration_ms": "1e400"}, "max_duration_ms"),
        ({"attr": "customer"}, "attr"),
        ({"attr": "=c-1"}, "attr"),
        ({"attr": [f"k{i}=v" for i in range(11)]}, "attr"),
        ({"status": "failed"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "101"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "123"}, "cursor"),
        ({"cursor": "1772359200000000000." + "g" * 32}, "cursor"),
        ({"cursor": "99999999999999999999." + "0" * 32}, "cursor"),
        ({"cursor": "9999999999999999999." + "0" * 32}, "cursor"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(api: Client, params: dict[str, Any], where: str) -> None:
    response = api.get("/api/traces", params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["where"] == where and error["message"]


def test_summaries_are_kept_as_spans_arrive(api: Client) -> None:
    summarise_pending()  # read directly, not through a reader: on SQLite the tables are kept after ingest
    checkout = TraceSummary.objects.get(trace_id=TRACES["checkout"])
    assert (checkout.span_count, checkout.error_count, checkout.ok_count, checkout.unset_count) == (2, 1, 0, 1)
    assert checkout.end_ns - checkout.start_ns == 100 * MS
    # The root of "late" arrives: it becomes the root and moves the start.
    export(api, "gateway", [span("late", 99, "GET /labels", 2999, 10)])
    late = api.get("/api/traces", {"service": "gateway"}).json()["results"][0]
    assert (late["root_service"], late["root_name"], late["start"]) == (
        "gateway", "GET /labels", "2026-03-01T10:00:02.999000000Z"
    )  # fmt: skip
    assert late["services"] == ["gateway", "shipping"]
    assert late["span_count"] == 2


def test_read_scope_is_required(client: Client, make_token: Any) -> None:
    assert client.get("/api/traces").status_code == 401
    headers = {"Authorization": f"Bearer {make_token('ingest').token}"}
    assert client.get("/api/services", headers=headers).status_code == 403


@pytest.mark.server
@pytest.mark.usefixtures("transactional_db")
def test_spans_sent_by_the_sdk_are_found(live_server_url: str, token: Any) -> None:
    import requests
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    headers = {"Authorization": f"Bearer {token.token}"}
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-orders", "deployment.environment": "qa"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{live_server_url}/v1/traces", headers=headers))
    )
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
        root.set_attribute("order.id", "o-2141000060")
        with tracer.start_as_current_span("charge card") as child:
            child.set_status(Status(StatusCode.ERROR, "declined"))
    provider.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")
    params = {"service": "sdk-orders", "status": "error", "attr": "order.id=o-2141000060", "min_duration_ms": "0"}
    body = requests.get(f"{live_server_url}/api/traces", params=params, headers=headers, timeout=30).json()
    assert [(row["trace_id"], row["root_name"], row["span_count"], row["error_count"]) for row in body["results"]] == [
        (trace_id, "POST /orders", 2, 1)
    ]
    names = requests.get(f"{live_server_url}/api/services", headers=headers, timeout=30).json()["results"]
    assert {"name": "sdk-orders", "span_names": ["POST /orders", "charge card"]}.items() <= names[0].items()


def test_spans_stored_before_search_existed_are_backfilled(client: Client, auth: dict[str, str]) -> None:
    from django.utils import timezone

    from tracing.models import Span
    from tracing.summaries import backfill

    trace = "ab" * 16
    Span.objects.bulk_create([
        Span(trace_id=trace, span_id=f"{i + 1:016x}", parent_span_id=f"{1:016x}" if i else "", name=f"s{i}",
             service="old", start_ns=T0 + i * MS, end_ns=T0 + (i + 2) * MS, status_code=2 if i == 2 else 0,
             attributes={"n": i}, resource={"service.name": "old"}, received_at=timezone.now())
        for i in range(3)
    ])  # fmt: skip
    backfill(batch=2)
    rows = client.get("/api/traces", {"attr": "n=2", "status": "error"}, headers=auth).json()["results"]
    assert [(r["trace_id"], r["root_name"], r["span_count"], r["duration_ms"]) for r in rows] == [(trace, "s0", 3, 4.0)]
