"""The demo shop against the real server (OpenTelemetry SDK exporter, the three ingest formats): its
map, and folds racing ingest across processes (the server's folder thread and this process's reads)."""

from __future__ import annotations

import io
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.core.management import call_command

from dashboard.demo.shop import Trouble
from dashboard.events.models import Event
from dashboard.servicemap.fold import fold_pending
from dashboard.servicemap.models import Pending
from tests.support.demo_shop import run_shop
from tracing.models import Span, SpanLink

pytestmark = pytest.mark.usefixtures("transactional_db")
CHAIN = [
    ("orders", "billing", "OrderCreated"),
    ("billing", "inventory", "OrderPaid"),
    ("inventory", "shipping", "StockReserved"),
]


def service_map(url: str, token: str) -> dict[str, Any]:
    # Until an hour from now: `manage.py demo` stamps its last events up to seconds ahead of the real
    # clock (tests/support/demo_shop.py), in a minute that a window ending now leaves out.
    now = datetime.now(UTC)
    window = {"since": (now - timedelta(hours=6)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    response = requests.get(f"{url}/api/servicemap", params=window,
                            headers={"Authorization": f"Bearer {token}"}, timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def recount() -> Counter[tuple[str, str, str]]:
    """Every hop of the stored data counted the slow way: each event, the span that published it,
    and each span linking back to that span (the shop's consumers run in their own traces)."""
    hops: Counter[tuple[str, str, str]] = Counter()
    for event in Event.objects.exclude(parent_span_id=""):
        publisher = Span.objects.filter(trace_id=event.trace_id, span_id=event.parent_span_id).first()
        if publisher is None:
            continue
        for link in SpanLink.objects.filter(linked_trace_id=event.trace_id, linked_span_id=event.parent_span_id):
            consumer = Span.objects.get(trace_id=link.trace_id, span_id=link.span_id)
            hops[(publisher.service, consumer.service, event.detail_type)] += 1
    return hops


def test_the_demo_shop_gives_its_three_event_edges(live_server_url: str, token: Any) -> None:
    run_shop(live_server_url, token.token, orders=4)
    body = service_map(live_server_url, token.token)
    edges = {(e["from"], e["to"], e["via"]): e for e in body["edges"] if e["kind"] == "event"}
    assert sorted(edges) == sorted(CHAIN)
    for publisher, _, via in CHAIN:
        edge = edges[(publisher, _, via)]
        assert (edge["count"], edge["errors"], edge["duplicates"]) == (4, 0, 0)
        assert edge["sources"] == [f"shop.{publisher}"]
        assert edge["messaging"] == {"system": "eventscope-demo", "destination": via, "operation": "process"}
        assert 0 < edge["lag_ms"]["p50"] <= edge["lag_ms"]["p95"] <= edge["lag_ms"]["p99"]
    assert [s["name"] for s in body["services"]] == ["billing", "inventory", "orders", "shipping"]


def test_make_demo_gives_the_shops_three_event_edges(live_server_url: str, token: Any) -> None:
    # What `make demo` runs (`manage.py demo`), with its default trouble: retries, duplicates,
    # out-of-order arrivals, failing steps, orders that never ship.
    call_command("demo", url=live_server_url, orders=8, rate=0, seed=4, stdout=io.StringIO())
    body = service_map(live_server_url, token.token)
    assert sorted((e["from"], e["to"], e["via"]) for e in body["edges"]) == sorted(CHAIN)
    assert {e["kind"] for e in body["edges"]} == {"event"}
    counted = {(e["from"], e["to"], e["via"]): e["count"] for e in body["edges"]}
    assert counted == dict(recount())
    assert all(count >= 8 for count in counted.values())
    assert [s["name"] for s in body["services"]] == ["billing", "inventory", "orders", "shipping"]


def test_the_shops_trouble_shows_as_errors_and_duplicates(live_server_url: str, token: Any) -> None:
    # Every order retried by its client (same key, new event id and trace), every consumer step
    # failing once before its redelivery succeeds.
    shop = run_shop(live_server_url, token.token, orders=2, trouble=Trouble(1.0, 0, 0, 1.0, 0), seed=3)
    edges = {(e["from"], e["to"], e["via"]): e for e in service_map(live_server_url, token.token)["edges"]}
    created = edges[("orders", "billing", "OrderCreated")]
    # Per order: the first OrderCreated processed twice (a failure, then the redelivery), the retried
    # one (same key, new id) once, skipped by billing as already done: a duplicate delivery.
    assert (created["count"], created["errors"], created["duplicates"]) == (6, 2, 2)
    assert sum(edge["errors"] for edge in edges.values()) == shop.stats.consumer_failures
    assert {key: edge["count"] for key, edge in edges.items()} == dict(recount())


def test_folds_racing_ingest_in_two_processes_count_each_hop_once(live_server_url: str, token: Any) -> None:
    # Two clients send orders while this process folds as fast as it can; the server's own folder
    # thread folds too (PostgreSQL: two processes take turns; SQLite: one writer at a time).
    stop = threading.Event()

    def fold_until_stopped() -> None:
        from django.db import connection

        try:
            while not stop.is_set():
                fold_pending()
        finally:
            connection.close()

    folder = threading.Thread(target=fold_until_stopped)
    folder.start()
    try:
        senders = [
            threading.Thread(target=run_shop, args=(live_server_url, token.token, 6), kwargs={"seed": seed})
            for seed in (11, 12)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
    finally:
        stop.set()
        folder.join()
    body = service_map(live_server_url, token.token)
    assert Pending.objects.count() == 0
    counted = {(e["from"], e["to"], e["via"]): e["count"] for e in body["edges"] if e["kind"] == "event"}
    assert counted == dict(recount())
    assert sum(counted.values()) == 3 * 12
    assert sum(service["spans"] for service in body["services"]) == Span.objects.count()
