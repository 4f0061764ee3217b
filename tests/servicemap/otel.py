"""Spans made by the OpenTelemetry SDK with explicit times, sent to ``/v1/traces`` as its OTLP/HTTP
exporter sends them (the exporter's own protobuf encoder), and events posted to ``/api/events``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.test import Client
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

T0 = 1_772_359_200_000_000_000  # 2026-03-01T10:00:00Z, in ns
MS = 1_000_000


def iso(ns: int) -> str:
    """RFC 3339 with microseconds (what an event's time keeps)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1000:06d}Z"


def ids(span: Span) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class Services:
    """One tracer provider per service, all exporting to one in-memory exporter; ``send`` posts what
    ended since the last send to ``/v1/traces``."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.exporter = InMemorySpanExporter()
        self.providers: dict[str, TracerProvider] = {}

    def tracer(self, service: str) -> trace.Tracer:
        if service not in self.providers:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(SimpleSpanProcessor(self.exporter))
            self.providers[service] = provider
        return self.providers[service].get_tracer("tests")

    def span(
        self,
        service: str,
        name: str,
        start_ms: float,
        end_ms: float,
        *,
        parent: Span | None = None,
        links: list[Span] = (),  # type: ignore[assignment]
        kind: SpanKind = SpanKind.INTERNAL,
        error: bool = False,
        attributes: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Span:
        """A span of ``service`` from ``T0 + start_ms`` to ``T0 + end_ms``, ended at once."""
        from opentelemetry import context as otel_context

        ctx = trace.set_span_in_context(parent) if parent is not None else otel_context.Context()
        span_links = [
            Link(other.get_span_context(), {"messaging.message.id": message_id} if message_id else None)
            for other in links
        ]
        span = self.tracer(service).start_span(
            name, context=ctx, kind=kind, links=span_links, attributes=attributes or {},
            start_time=T0 + int(start_ms * MS),
        )  # fmt: skip
        if error:
            span.set_status(Status(StatusCode.ERROR, "failed"))
        span.end(end_time=T0 + int(end_ms * MS))
        return span

    def send(self) -> None:
        spans = self.exporter.get_finished_spans()
        self.exporter.clear()
        if not spans:
            return
        body = encode_spans(spans).SerializeToString()
        response = self.client.post("/v1/traces", body, content_type="application/x-protobuf")
        assert response.status_code == 200, response.content


def publish(client: Client, publisher: Span, detail_type: str, at_ms: float, *, event_id: str,
            key: str | None = None, source: str = "shop") -> None:  # fmt: skip
    """An event published from ``publisher``'s span (its traceparent), with time ``T0 + at_ms``."""
    trace_id, span_id = ids(publisher)
    detail: dict[str, Any] = {"n": event_id}
    if key:
        detail["metadata"] = {"idempotency-key": key}
    event = {"id": event_id, "source": source, "detail-type": detail_type, "time": iso(T0 + int(at_ms * MS)),
             "detail": detail, "traceparent": f"00-{trace_id}-{span_id}-01"}  # fmt: skip
    response = client.post("/api/events", [event], content_type="application/json")
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content
