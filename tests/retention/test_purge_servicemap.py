"""The service map's rollups under retention (``EVENTSCOPE_RETENTION_DAYS_SERVICEMAP``): buckets that
ended before the cut-off go, in batches, and the map of a recent window answers as before. Spans are
made with the OpenTelemetry SDK at explicit times and sent through ``/v1/traces``."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from opentelemetry.trace import SpanKind

from dashboard.core.bulk import run_alone_in_write_transaction
from dashboard.retention.purge import purge
from dashboard.servicemap.expiry import delete_old_buckets
from dashboard.servicemap.fold import MINUTE_NS, fold_pending, one_fold_at_a_time
from dashboard.servicemap.models import EdgeBucket, ServiceBucket
from tests.servicemap.otel import T0, Services, iso, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def ms_from_t0(moment: datetime) -> float:
    return (moment - datetime.fromtimestamp(T0 / 1e9, UTC)).total_seconds() * 1000


def hop(api: Client, services: Services, at: datetime, tag: str) -> None:
    """orders calls payments and publishes OrderPlaced, which billing processes 5 ms later."""
    start = ms_from_t0(at)
    request = services.span("orders", "POST /orders", start, start + 20, kind=SpanKind.SERVER)
    services.span("payments", "POST /charge", start + 1, start + 3, parent=request, kind=SpanKind.SERVER)
    publisher = services.span("orders", "publish", start + 4, start + 5, parent=request, kind=SpanKind.PRODUCER)
    services.span("billing", "process", start + 10, start + 11, links=[publisher], kind=SpanKind.CONSUMER)
    services.send()
    publish(api, publisher, "OrderPlaced", start + 4, event_id=f"e-{tag}")


def rows() -> set[tuple[str, int, int, int]]:
    """Every rollup row as (table, id, width, minute)."""
    return {("edge", *row) for row in EdgeBucket.objects.values_list("pk", "width", "minute")} | {
        ("service", *row) for row in ServiceBucket.objects.values_list("pk", "width", "minute")
    }


def window(api: Client, around: datetime) -> dict[str, Any]:
    since, until = around - timedelta(hours=2), around + timedelta(hours=2)
    response = api.get("/api/servicemap", {"since": iso(int(since.timestamp() * 1e9)),
                                           "until": iso(int(until.timestamp() * 1e9))})  # fmt: skip
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def history(api: Client) -> dict[str, datetime]:
    """Hops 40 days before ``now``, at the cut-off (31 days: inside buckets of every width that began
    before it and end after it), and at ``now``; folded into the rollups."""
    now = timezone.now()
    moments = {"old": now - timedelta(days=40), "edge": now - timedelta(days=31), "new": now, "now": now}
    services = Services(api)
    for tag in ("old", "edge", "new"):
        hop(api, services, moments[tag], tag)
    fold_pending()
    return moments


def test_buckets_that_ended_before_the_cut_off_are_purged_and_the_rest_kept(
    api: Client, history: dict[str, datetime]
) -> None:
    before = rows()
    recent_map = window(api, history["new"])
    assert window(api, history["old"])["edges"]  # the old hour is on the map until the purge

    outcome = {o.kind: o for o in purge(now=history["now"], pause_ms=0, batch_size=4)}["servicemap"]

    assert outcome.finished and outcome.cutoff is not None
    cut = int(outcome.cutoff.timestamp() * 1e9) // MINUTE_NS
    assert rows() == {row for row in before if row[3] + row[2] > cut}
    # Five rows a width for the hop of 40 days ago (two edges, three services): all gone. The
    # buckets holding the cut-off stay whole, one of each width at least.
    assert outcome.deleted == len(before) - len(rows()) == 15
    assert {width for *_, width, minute in rows() if minute <= cut < minute + width} == {1, 10, 60}
    assert window(api, history["old"]) == {**window(api, history["old"]), "edges": [], "services": []}
    assert window(api, history["new"]) == recent_map


def test_a_dry_run_counts_the_rows_and_deletes_none(history: dict[str, datetime]) -> None:
    before = rows()
    planned = {o.kind: o for o in purge(now=history["now"], dry_run=True)}["servicemap"]
    assert rows() == before
    assert planned.deleted > 0
    assert {o.kind: o for o in purge(now=history["now"], pause_ms=0)}["servicemap"].deleted == planned.deleted


def test_zero_days_keeps_the_rollups_forever(
    history: dict[str, datetime], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.EVENTSCOPE_RETENTION_DAYS_SERVICEMAP = 0
    before = rows()
    with caplog.at_level(logging.INFO, logger="dashboard.retention.purge"):
        outcome = {o.kind: o for o in purge(now=history["now"], pause_ms=0)}["servicemap"]
    assert outcome.cutoff is None and outcome.deleted == 0
    assert rows() == before
    # The log names what each purged kind lost; a kind kept forever is not in it.
    logged = [record.getMessage() for record in caplog.records]
    assert [line.split(":")[1].strip() for line in logged] == ["events", "spans", "logs", "transactions"]
    assert not any("None" in line for line in logged)


def test_a_shorter_retention_takes_more(history: dict[str, datetime], settings: Any) -> None:
    settings.EVENTSCOPE_RETENTION_DAYS_SERVICEMAP = 1
    purge(now=history["now"], pause_ms=0, batch_size=3)
    now_minute = int(history["new"].timestamp() * 1e9) // MINUTE_NS
    assert {minute for *_, minute in rows()} <= set(range(now_minute - 60, now_minute + 1))
    assert rows()


@pytest.mark.django_db(transaction=True)
def test_a_purge_batch_waits_for_a_fold_in_progress(history: dict[str, datetime]) -> None:
    """A fold reads rows and writes them back by id: a purge batch must not delete between the two
    (on PostgreSQL the fold's advisory lock, on SQLite the write lock, keep them apart)."""
    entered, release, order = threading.Event(), threading.Event(), []

    def fold_in_progress() -> None:
        def hold() -> None:
            list(EdgeBucket.objects.values_list("pk", "count"))  # what a fold reads before it writes
            entered.set()
            release.wait(10)
            order.append("fold")

        try:
            with one_fold_at_a_time():
                run_alone_in_write_transaction(hold)
        finally:
            connection.close()

    def purge_batch() -> None:
        try:
            delete_old_buckets(history["now"] - timedelta(days=31), 1000)
            order.append("purge")
        finally:
            connection.close()

    fold = threading.Thread(target=fold_in_progress)
    fold.start()
    assert entered.wait(10)
    purger = threading.Thread(target=purge_batch)
    purger.start()
    time.sleep(0.5)
    assert purger.is_alive() and order == []  # waiting for the fold, nothing deleted yet
    release.set()
    fold.join(10)
    purger.join(10)
    assert order == ["fold", "purge"]
    cut = int((history["now"] - timedelta(days=31)).timestamp() * 1e9) // MINUTE_NS
    assert all(minute + width > cut for *_, width, minute in rows())
