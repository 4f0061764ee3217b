"""Storing events, spans and logs through the ingest endpoints at a chosen moment (time-machine), so
that they carry that received time as if they had arrived then."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import time_machine
from django.test import Client
from django.utils import timezone

NOW = timezone.now


@contextmanager
def received(days_ago: float) -> Iterator[None]:
    """What is ingested inside arrives ``days_ago`` days ago (the clock ticks on from there)."""
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=True):
        yield


def post_events(client: Client, tag: str, count: int, **fields: Any) -> list[str]:
    """``count`` native events (``detail.tag`` = ``tag``); their stored ids."""
    entries = [
        {"id": f"{tag}-{i}", "source": "shop.orders", "detail-type": "OrderCreated", "detail": {"tag": tag}, **fields}
        for i in range(count)
    ]
    response = client.post("/api/events", entries, content_type="application/json")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def attrs(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": key, "value": {"stringValue": value}} for key, value in values.items()]


def post_spans(client: Client, trace_id: str, count: int, *, link_to: str = "", service: str = "orders") -> None:
    """``count`` spans of trace ``trace_id`` (the first the root), OTLP/JSON; the root links to
    ``link_to``'s first span when given."""
    spans = []
    for i in range(count):
        span: dict[str, Any] = {
            "traceId": trace_id, "spanId": f"{i + 1:016x}", "parentSpanId": f"{1:016x}" if i else "",
            "name": f"step {i}", "kind": 2, "startTimeUnixNano": str(1_772_359_200_000_000_000 + i),
            "endTimeUnixNano": str(1_772_359_200_000_000_000 + i + 1000), "attributes": attrs({"tag": trace_id}),
        }  # fmt: skip
        if i == 0 and link_to:
            span["links"] = [{"traceId": link_to, "spanId": f"{1:016x}"}]
        spans.append(span)
    body = {"resourceSpans": [{"resource": {"attributes": attrs({"service.name": service})},
                               "scopeSpans": [{"spans": spans}]}]}  # fmt: skip
    response = client.post("/v1/traces", body, content_type="application/json")
    assert response.status_code == 200, response.content


def post_logs(client: Client, text: str, count: int) -> None:
    records = [
        {"timeUnixNano": "1772359200000000000", "severityText": "INFO", "body": {"stringValue": f"{text} {i}"}}
        for i in range(count)
    ]
    body = {"resourceLogs": [{"resource": {"attributes": attrs({"service.name": "orders"})},
                              "scopeLogs": [{"logRecords": records}]}]}  # fmt: skip
    response = client.post("/v1/logs", body, content_type="application/json")
    assert response.status_code == 200, response.content


def trace_id(n: int) -> str:
    return f"{n:032x}"


def at(days_ago: float) -> datetime:
    return timezone.now() - timedelta(days=days_ago)


def store_old_events(count: int, days_ago: float, tag: str = "bulk") -> None:
    """``count`` events received ``days_ago`` days ago, written directly (many, quickly); their
    stored ids carry that moment, as ingest's would have."""
    from dashboard.core.ids import ms_prefix
    from dashboard.events.models import Event

    moment = at(days_ago)
    stamp = ms_prefix(int(moment.timestamp() * 1000))
    rows = [
        Event(
            id=f"{stamp}{i:016d}",
            event_id=f"{tag}-{i}",
            source="shop.orders",
            detail_type="OrderCreated",
            time=moment,
            detail={"n": i},
            raw="{}",
            received_at=moment,
            format="native",
        )
        for i in range(count)
    ]
    Event.objects.bulk_create(rows, batch_size=500)
