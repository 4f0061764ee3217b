"""Spans on the live tail: published once per OTLP request, after its commit.

Registered for ``tracing.store.SPANS`` by ``TracingConfig.ready()``. A span goes on the layer in
its raw wire form (``WireSpan``: values copied, nothing formatted); the hub builds its client form
only while someone is subscribed (``dashboard.live.items.live_span``).
"""

from __future__ import annotations

from dashboard.ingest.observers import BatchHooks
from dashboard.live.messages import WireSpan
from dashboard.live.publish import live_wanted, publish_items
from tracing.otlp import SpanRecord
from tracing.store import StoredSpans


def wire_span(span: SpanRecord) -> WireSpan:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "service": span.service,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "status_code": span.status_code,
        "status_message": span.status_message,
        "attributes": span.attributes,
    }


def _publish_spans(stored: StoredSpans) -> None:
    publish_items([], [wire_span(span) for span in stored.spans])


_PUBLISH_SPANS: BatchHooks[StoredSpans] = BatchHooks(after_commit=_publish_spans)


def span_hooks() -> BatchHooks[StoredSpans] | None:
    """A batch of spans, published after its commit when someone can receive it."""
    return _PUBLISH_SPANS if live_wanted() else None
