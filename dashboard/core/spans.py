"""The OTLP span vocabulary the trace API, the pages and the live tail share: kind and status names,
and nanosecond times as text. Here, below both tracing and live, because the live hub formats spans
for its clients and may not import tracing."""

from __future__ import annotations

from datetime import UTC, datetime

# The names of OTLP's SpanKind and Status.StatusCode values, as Span.kind and Span.status_code store
# them (the index is the value); the API and the pages show these.
SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")


def kind_name(kind: int) -> str:
    """A span kind's name; a value OTLP may add later as its number."""
    return SPAN_KINDS[kind] if 0 <= kind < len(SPAN_KINDS) else str(kind)


def status_name(code: int) -> str:
    """A status code's name ("unset", "ok", "error"); a value OTLP may add later as its number."""
    return STATUS_CODES[code] if 0 <= code < len(STATUS_CODES) else str(code)


def format_ns(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, as OTLP gave them."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"
