"""``/v1/traces`` and ``/v1/logs`` through the real OpenTelemetry SDK exporters and raw OTLP bodies."""

from __future__ import annotations

import gzip

import orjson
import pytest
import requests
from google.rpc import status_pb2
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from dashboard.events.models import Event
from tracing.models import LogRecord, Span, SpanLink

pytestmark = [pytest.mark.server, pytest.mark.usefixtures("transactional_db")]


def tracer_for(service: str, exporter: OTLPSpanExporter) -> tuple[TracerProvider, trace.Tracer]:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, provider.get_tracer("tests")


def test_an_unmodified_exporter_configured_by_environment_delivers_spans(live_server_url, token, monkeypatch):
    # Exactly what the README tells users to set: the exporter appends /v1/traces itself.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", live_server_url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {token.token}")
    provider, tracer = tracer_for("orders", OTLPSpanExporter())
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("publish OrderCreated", kind=SpanKind.PRODUCER) as child:
            child.set_attribute("messaging.system", "eventbridge")
            child.add_event("sent", {"bytes": 120})
            child.set_status(Status(StatusCode.ERROR, "broker timeout"))
    provider.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")
    spans = {span.name: span for span in Span.objects.filter(trace_id=trace_id)}
    assert set(spans) == {"POST /orders", "publish OrderCreated"}
    parent, child_row = spans["POST /orders"], spans["publish OrderCreated"]
    assert child_row.parent_span_id == parent.span_id and parent.parent_span_id == ""
    assert child_row.service == "orders" and child_row.kind == 4
    assert child_row.status_code == 2 and child_row.status_message == "broker timeout"
    assert child_row.attributes["messaging.system"] == "eventbridge"
    assert child_row.events[0]["name"] == "sent"
    assert child_row.end_ns >= child_row.start_ns > 0


def test_gzip_export_works_and_a_resent_batch_is_kept_once(live_server_url, token):
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server_url}/v1/traces",
        headers={"Authorization": f"Bearer {token.token}"},
        compression=Compression.Gzip,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    finished = []

    class Collect(SimpleSpanProcessor):
        def on_end(self, span):  # type: ignore[no-untyped-def]
            finished.append(span)

    provider.add_span_processor(Collect(exporter))
    with provider.get_tracer("t").start_as_current_span("charge"):
        pass
    from opentelemetry.sdk.trace.export import SpanExportResult

    assert exporter.export(finished) == SpanExportResult.SUCCESS
    assert exporter.export(finished) == SpanExportResult.SUCCESS  # a retry after a lost response
    assert Span.objects.filter(name="charge").count() == 1


def test_span_links_are_stored_and_read_from_both_ends(live_server_url, token):
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server_url}/v1/traces", headers={"Authorization": f"Bearer {token.token}"}
    )
    provider, tracer = tracer_for("orders", exporter)
    with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as producer:
        pass
    with tracer.start_as_current_span(
        "consume",
        kind=SpanKind.CONSUMER,
        links=[Link(producer.get_span_context(), {"messaging.operation": "receive"})],
        context=trace.set_span_in_context(trace.INVALID_SPAN),
    ) as consumer:
        pass
    provider.shutdown()
    producer_trace = format(producer.get_span_context().trace_id, "032x")
    consumer_trace = format(consumer.get_span_context().trace_id, "032x")
    assert producer_trace != consumer_trace
    assert SpanLink.objects.filter(trace_id=consumer_trace, linked_trace_id=producer_trace).exists()
    headers = {"Authorization": f"Bearer {token.token}"}
    forward = requests.get(f"{live_server_url}/api/traces/{consumer_trace}", headers=headers, timeout=10).json()
    backward = requests.get(f"{live_server_url}/api/traces/{producer_trace}", headers=headers, timeout=10).json()
    assert {"trace_id": producer_trace, "relation": "links_to"}.items() <= forward["linked_traces"][0].items()
    assert {"trace_id": consumer_trace, "relation": "linked_from"}.items() <= backward["linked_traces"][0].items()
    assert forward["spans"][0]["links"][0]["trace_id"] == producer_trace


def test_event_records_become_events_and_other_logs_stay_logs(live_server_url, token):
    exporter = OTLPLogExporter(
        endpoint=f"{live_server_url}/v1/logs", headers={"Authorization": f"Bearer {token.token}"}
    )
    logs = LoggerProvider(resource=Resource.create({"service.name": "shipping"}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider, tracer = tracer_for(
        "shipping",
        OTLPSpanExporter(endpoint=f"{live_server_url}/v1/traces", headers={"Authorization": f"Bearer {token.token}"}),
    )
    logger = logs.get_logger("shop")
    with tracer.start_as_current_span("ship") as span:
        logger.emit(
            event_name="OrderShipped",
            body={"order-id": "o-7", "carrier": "dhl"},
            attributes={"idempotency.key": "ship-o-7"},
        )
        logger.emit(body="label printed", severity_number=SeverityNumber.INFO, severity_text="INFO")
        logger.emit(body={"order-id": "o-8"}, attributes={"event.name": "OrderDelayed"})
    logs.shutdown()
    provider.shutdown()
    trace_id = format(span.get_span_context().trace_id, "032x")
    span_id = format(span.get_span_context().span_id, "016x")
    shipped = Event.objects.get(detail_type="OrderShipped")
    assert shipped.source == "shipping" and shipped.format == "otlp"
    assert shipped.detail == {"order-id": "o-7", "carrier": "dhl"}
    assert (shipped.trace_id, shipped.parent_span_id) == (trace_id, span_id)
    assert shipped.idempotency_key == "ship-o-7"
    assert Event.objects.filter(detail_type="OrderDelayed").exists()
    log = LogRecord.objects.get()
    assert log.body == "label printed" and log.trace_id == trace_id and log.severity_text == "INFO"
    flow = requests.get(
        f"{live_server_url}/api/traces/{trace_id}", headers={"Authorization": f"Bearer {token.token}"}, timeout=10
    ).json()
    assert [s["name"] for s in flow["spans"]] == ["ship"]
    assert {e["detail-type"] for e in flow["events"]} == {"OrderShipped", "OrderDelayed"}
    assert [entry["body"] for entry in flow["logs"]] == ["label printed"]


def _otlp_json_request(spans: list[dict[str, object]]) -> bytes:
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "inventory"}}]},
                    "scopeSpans": [{"scope": {"name": "manual"}, "spans": spans}],
                    "someFutureField": True,
                }
            ]
        }
    )


def _json_span(span_id: str, trace_id: str = "5b8efff798038103d269b633813fc60c") -> dict[str, object]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "reserve",
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": 1700000000500000000,
        "attributes": [{"key": "sku", "value": {"stringValue": "A-1"}}, {"key": "qty", "value": {"intValue": "3"}}],
    }


def test_otlp_json_is_accepted_and_answered_in_json(live_server_url, token):
    response = requests.post(
        f"{live_server_url}/v1/traces",
        data=_otlp_json_request([_json_span("eee19b7ec3c1b174")]),
        headers={"Authorization": f"Bearer {token.token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {}
    stored = Span.objects.get()
    assert stored.service == "inventory" and stored.attributes == {"sku": "A-1", "qty": 3}
    assert stored.end_ns - stored.start_ns == 500_000_000


def test_individually_invalid_spans_are_a_partial_success(live_server_url, token):
    spans = [_json_span("eee19b7ec3c1b174"), _json_span("0000000000000000"), _json_span("abc")]
    response = requests.post(
        f"{live_server_url}/v1/traces",
        data=_otlp_json_request(spans),
        headers={"Authorization": f"Bearer {token.token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 2 and partial["errorMessage"]
    assert Span.objects.count() == 1


def test_a_malformed_protobuf_body_is_a_400_with_a_status(live_server_url, token):
    response = requests.post(
        f"{live_server_url}/v1/traces",
        data=b"\xff\xff\xff not protobuf",
        headers={"Authorization": f"Bearer {token.token}", "Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert status.code == 3 and status.message


def test_a_protobuf_gzip_bomb_is_a_413(live_server_url, token, settings):
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "x" * 20_000_000
    bomb = gzip.compress(request.SerializeToString())
    response = requests.post(
        f"{live_server_url}/v1/traces",
        data=bomb,
        headers={
            "Authorization": f"Bearer {token.token}",
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        },
        timeout=30,
    )
    assert response.status_code == 413
    assert not Span.objects.exists()


def test_otlp_needs_a_token_and_a_known_content_type(live_server_url, token):
    assert (
        requests.post(
            f"{live_server_url}/v1/traces", data=b"", headers={"Content-Type": "application/x-protobuf"}, timeout=10
        ).status_code
        == 401
    )
    response = requests.post(
        f"{live_server_url}/v1/logs",
        data=b"{}",
        headers={"Authorization": f"Bearer {token.token}", "Content-Type": "text/plain"},
        timeout=10,
    )
    assert response.status_code == 415
