"""Status is computed against the deadline at query time, to the second; the beat sweep persists it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Transaction
from dashboard.lifecycles.sweep import mark_overdue
from tasks.transactions import sweep_overdue_transactions

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
DEADLINE = START + timedelta(seconds=900)


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    lifecycle = {
        "name": "order",
        "key": "detail.order-id",
        "steps": ["OrderCreated", "OrderPaid", "OrderShipped"],
        "timeout_seconds": 900,
    }
    assert client.post("/api/lifecycles", lifecycle, content_type="application/json").status_code == 201
    return client


def send(api: Client, detail_type: str, order_id: str, at: datetime) -> None:
    body = {"source": "shop", "detail-type": detail_type, "time": at.isoformat(), "detail": {"order-id": order_id}}
    assert api.post("/api/events", body, content_type="application/json").status_code == 200
    fold_pending()  # at that moment, as the server's folder thread would


def statuses(api: Client, **filters: str) -> dict[str, str]:
    rows = api.get("/api/transactions", filters).json()["results"]
    return {row["key"]: row["status"] for row in rows}


def test_created_and_paid_but_never_shipped_turns_incomplete_right_after_the_deadline(api: Client) -> None:
    with time_machine.travel(START + timedelta(seconds=30), tick=False):
        send(api, "OrderCreated", "o-1", START)
        send(api, "OrderPaid", "o-1", START + timedelta(seconds=20))
    with time_machine.travel(DEADLINE - timedelta(seconds=1), tick=False):
        assert statuses(api) == {"o-1": "in_progress"}
        assert statuses(api, status="incomplete") == {}
    with time_machine.travel(DEADLINE, tick=False):
        assert statuses(api) == {"o-1": "in_progress"}  # "past" the timeout means after it
    with time_machine.travel(DEADLINE + timedelta(seconds=1), tick=False):
        assert statuses(api) == {"o-1": "incomplete"}
        assert statuses(api, status="incomplete", missing_step="OrderShipped") == {"o-1": "incomplete"}
        assert statuses(api, status="in_progress") == {}
        row = api.get("/api/transactions").json()["results"][0]
        assert row["deadline"] == "2026-03-01T10:15:00Z"
        assert row["missing_steps"] == ["OrderShipped"]
        funnel = api.get("/api/transactions/funnel").json()["lifecycles"][0]
        assert (funnel["total"], funnel["incomplete"], funnel["in_progress"], funnel["complete"]) == (1, 1, 0, 0)
        assert funnel["steps"][2] == {"step": "OrderShipped", "reached": 0, "stuck": 1}


def test_the_deadline_counts_from_the_first_event_even_when_it_arrives_late(api: Client) -> None:
    with time_machine.travel(START + timedelta(seconds=600), tick=False):
        send(api, "OrderPaid", "o-1", START + timedelta(seconds=500))
        send(api, "OrderCreated", "o-1", START)
    with time_machine.travel(DEADLINE + timedelta(seconds=1), tick=False):
        row = api.get("/api/transactions").json()["results"][0]
        assert row["first_seen"] == "2026-03-01T10:00:00Z"
        assert row["deadline"] == "2026-03-01T10:15:00Z"
        assert row["status"] == "incomplete"


def test_a_complete_transaction_never_turns_incomplete(api: Client) -> None:
    with time_machine.travel(START, tick=False):
        for step in ("OrderCreated", "OrderPaid", "OrderShipped"):
            send(api, step, "o-1", START)
    with time_machine.travel(DEADLINE + timedelta(days=3), tick=False):
        assert statuses(api) == {"o-1": "complete"}
        assert mark_overdue() == 0


def test_the_sweep_persists_incomplete_and_when_it_went_overdue(api: Client) -> None:
    with time_machine.travel(START, tick=False):
        send(api, "OrderCreated", "o-1", START)
        send(api, "OrderCreated", "o-2", START + timedelta(seconds=120))
    with time_machine.travel(DEADLINE + timedelta(seconds=5), tick=False):
        assert mark_overdue() == 1
        assert mark_overdue() == 0  # already marked
        overdue = Transaction.objects.get(key="o-1")
        assert (overdue.status, overdue.overdue_at) == ("incomplete", DEADLINE)
        assert Transaction.objects.get(key="o-2").status == "in_progress"
        assert api.get("/api/transactions").json()["results"][1]["overdue_at"] == "2026-03-01T10:15:00Z"
    with time_machine.travel(DEADLINE + timedelta(seconds=200), tick=False):
        assert sweep_overdue_transactions.apply().get() == 1
        assert Transaction.objects.get(key="o-2").status == "incomplete"
        # A late step still lands; the record stays incomplete while a step is missing.
        send(api, "OrderPaid", "o-2", DEADLINE + timedelta(seconds=190))
        assert Transaction.objects.get(key="o-2").status == "incomplete"


def test_the_sweep_is_scheduled_on_celery_beat() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE.values()
    entries = [entry for entry in schedule if entry["task"] == sweep_overdue_transactions.name]
    assert len(entries) == 1
    assert 0 < float(entries[0]["schedule"]) <= 60


def test_a_late_step_that_completes_an_overdue_transaction_completes_it(api: Client) -> None:
    with time_machine.travel(START, tick=False):
        send(api, "OrderCreated", "o-1", START)
        send(api, "OrderPaid", "o-1", START)
    later = DEADLINE + timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        mark_overdue()
        send(api, "OrderShipped", "o-1", later)
        row: dict[str, Any] = api.get("/api/transactions").json()["results"][0]
        assert row["status"] == "complete"
        assert row["overdue_at"] == "2026-03-01T10:15:00Z"  # it did go overdue once
        assert Transaction.objects.get().status == "complete"
