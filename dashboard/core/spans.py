"""The OTLP span vocabulary the trace API and the live tail share: kind and status names, and
nanosecond times as text."""

from __future__ import annotations

from datetime import UTC, datetime

# By OTLP's enum values: a span's kind and its status code index these.
SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")


def format_ns(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, as OTLP gave them."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"
