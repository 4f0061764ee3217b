"""Transaction records under retention (``EVENTSCOPE_RETENTION_DAYS_TRANSACTIONS``): a record goes once
both its deadline and its last change lie before the cut-off. Records are made by real ingest
(``/api/events``) with explicit event times; their last change is set where a test needs it old."""

from __future__ import annotations

import io
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from dashboard.events.envelope import format_time
from dashboard.lifecycles import tracking
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Transaction
from dashboard.retention.purge import purge

pytestmark = pytest.mark.django_db

DAY = 86_400
ORDER = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 900}
# A lifecycle that allows its transactions 60 days.
LEASE = {"name": "lease", "key": "detail.lease-id", "steps": ["LeaseOn", "LeaseOff"], "timeout_seconds": 60 * DAY}


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    for lifecycle in (ORDER, LEASE):
        response = client.post("/api/lifecycles", lifecycle, content_type="application/json")
        assert response.status_code == 201, response.content
    return client


def send(api: Client, detail_type: str, key: str, at: datetime, field: str = "order-id", fold: bool = True) -> None:
    event = {"source": "shop", "detail-type": detail_type, "time": format_time(at), "detail": {field: key}}
    response = api.post("/api/events", [event], content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["status"] == "accepted"
    if fold:
        fold_pending()  # SQLite: records are folded from the events just after ingest


def last_changed(key: str, at: datetime) -> None:
    assert Transaction.objects.filter(key=key).update(updated_at=at) == 1


def keys() -> set[str]:
    return set(Transaction.objects.values_list("key", flat=True))


def records_outcome(now: datetime, **options: Any) -> Any:
    return {o.kind: o for o in purge(now=now, pause_ms=0, **options)}["transactions"]


@pytest.fixture
def history(api: Client) -> datetime:
    """Records of every kind the rule tells apart; returns the purge's moment (now)."""
    now = timezone.now()
    old = now - timedelta(days=40)
    send(api, "OrderCreated", "stale", old)  # quiet for 40 days: goes
    last_changed("stale", old)
    send(api, "OrderCreated", "stale-complete", old)
    send(api, "OrderPaid", "stale-complete", old + timedelta(minutes=1))
    last_changed("stale-complete", old)
    send(api, "OrderCreated", "late-step", old)  # started 40 days ago, changed today by a late step
    send(api, "OrderPaid", "late-step", now)
    send(api, "OrderCreated", "recent", now - timedelta(days=2))  # changed 2 days ago: inside 30 days
    last_changed("recent", now - timedelta(days=2))
    # Quiet for 40 days, but its lifecycle allows 60: still running, kept.
    send(api, "LeaseOn", "lease-running", old, field="lease-id")
    last_changed("lease-running", old)
    # Quiet for 70 days, its 60 up 10 days ago: shown incomplete for the whole retention, kept.
    send(api, "LeaseOn", "lease-overdue", now - timedelta(days=70), field="lease-id")
    last_changed("lease-overdue", now - timedelta(days=70))
    # Quiet for 100 days, its 60 up 40 days ago: goes.
    send(api, "LeaseOn", "lease-over", now - timedelta(days=100), field="lease-id")
    last_changed("lease-over", now - timedelta(days=100))
    return now


KEPT = {"late-step", "recent", "lease-running", "lease-overdue"}


def test_records_quiet_since_the_cut_off_and_past_their_deadline_go(history: datetime, api: Client) -> None:
    outcome = records_outcome(history, batch_size=2)
    assert (outcome.deleted, outcome.finished) == (3, True)
    assert keys() == KEPT
    listed = {row["key"] for row in api.get("/api/transactions").json()["results"]}
    assert listed == KEPT
    # The next purge finds nothing more.
    assert records_outcome(history).deleted == 0


def test_a_dry_run_counts_the_records_and_deletes_none(history: datetime) -> None:
    before = keys()
    planned = {o.kind: o for o in purge(now=history, dry_run=True)}["transactions"]
    assert planned.deleted == 3
    assert keys() == before
    assert records_outcome(history).deleted == 3


def test_the_command_says_what_it_deletes(history: datetime) -> None:
    out = io.StringIO()
    call_command("purge", "--dry-run", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if line.startswith("transactions:"))
    assert line.startswith("transactions: 3 records would be deleted (deadline and last change before ")
    assert line.endswith(", 30 days)")
    out = io.StringIO()
    call_command("purge", stdout=out)
    assert "transactions: 3 records deleted (deadline and last change before " in out.getvalue()
    assert keys() == KEPT


def test_zero_days_keeps_the_records_forever(history: datetime, settings: Any) -> None:
    settings.EVENTSCOPE_RETENTION_DAYS_TRANSACTIONS = 0
    before = keys()
    outcome = records_outcome(history)
    assert (outcome.cutoff, outcome.deleted) == (None, 0)
    assert keys() == before


def test_the_walk_takes_many_records_sharing_deadlines_in_small_ranges(api: Client) -> None:
    now = timezone.now()
    old = now - timedelta(days=40)
    # Seven records a deadline (one event time), in three deadlines, and a kept one between them.
    for group in range(3):
        for n in range(7):
            send(api, "OrderCreated", f"g{group}-{n}", old + timedelta(minutes=group))
            last_changed(f"g{group}-{n}", old)
    send(api, "OrderCreated", "kept", old + timedelta(minutes=1))
    assert records_outcome(now, batch_size=3).deleted == 21
    assert keys() == {"kept"}


def test_a_step_accepted_but_not_folded_yet_keeps_its_record(history: datetime, api: Client) -> None:
    # SQLite folds steps into records just after ingest: the purge folds first. (PostgreSQL merges
    # them at ingest.)
    send(api, "OrderPaid", "stale", history, fold=False)
    assert records_outcome(history).deleted == 2
    assert Transaction.objects.get(key="stale").steps_seen.keys() == {"OrderCreated", "OrderPaid"}


def test_every_batch_is_followed_by_a_pause_one_that_deleted_nothing_too(api: Client) -> None:
    now = timezone.now()
    old = now - timedelta(days=40)
    for n in range(12):  # twelve deadlines a minute apart; two records quiet, ten changed today
        send(api, "OrderCreated", f"o-{n}", old + timedelta(minutes=n))
        if n in (0, 5):
            last_changed(f"o-{n}", old)
    pauses: list[float] = []
    outcome = {o.kind: o for o in purge(now=now, pause_ms=7, batch_size=2, sleep=pauses.append)}["transactions"]
    assert outcome.deleted == 2
    assert keys() == {f"o-{n}" for n in range(12)} - {"o-0", "o-5"}
    # Six ranges of two deadlines, a batch each; the other kinds (nothing to purge) paused never.
    assert len(pauses) == 6 and all(pause >= 0.007 for pause in pauses)


def test_records_sharing_a_deadline_written_in_another_form_are_all_taken(api: Client) -> None:
    # A time with no fraction may be stored with one (".000000", as other writers of the file do):
    # it sorts after the form the purge writes its bounds in, and the walk must still move on.
    now = timezone.now()
    at = (now - timedelta(days=40)).replace(microsecond=0)
    for n in range(5):
        send(api, "OrderCreated", f"o-{n}", at)
        last_changed(f"o-{n}", at)
    text = (at + timedelta(seconds=900)).strftime("%Y-%m-%d %H:%M:%S.000000")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE dashboard_transaction SET deadline = %s WHERE key IN ('o-0', 'o-3')", [text])
    outcome = records_outcome(now, batch_size=2, budget_seconds=30)
    assert (outcome.deleted, outcome.finished) == (5, True)
    assert keys() == set()


def test_a_step_for_a_purged_record_starts_a_new_partial_one(history: datetime, api: Client) -> None:
    records_outcome(history)
    send(api, "OrderPaid", "stale", history)
    row = Transaction.objects.get(key="stale")
    assert row.steps_seen.keys() == {"OrderPaid"}
    assert row.out_of_order is True  # OrderPaid without OrderCreated, as when it arrives first


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_record_purged_while_its_step_is_being_stored_starts_again(api: Client, monkeypatch: Any) -> None:
    # PostgreSQL, where ingest writes records in its own transaction beside the purge's: the batch's
    # insert meets the record, the purge deletes it and commits, then the batch's lock finds nothing.
    now = timezone.now()
    send(api, "OrderCreated", "o-1", now - timedelta(minutes=5))
    insert_new = tracking._insert_new

    def insert_then_purge(*args: Any, **kwargs: Any) -> set[tuple[int, str]]:
        created = insert_new(*args, **kwargs)
        if Transaction.objects.filter(key="o-1").exists():  # the purge, on a connection of its own

            def purge_it() -> None:
                try:
                    Transaction.objects.filter(key="o-1").delete()
                finally:
                    connection.close()

            purger = threading.Thread(target=purge_it)
            purger.start()
            purger.join()
        return created

    monkeypatch.setattr(tracking, "_insert_new", insert_then_purge)
    send(api, "OrderPaid", "o-1", now)
    row = Transaction.objects.get(key="o-1")
    assert row.steps_seen.keys() == {"OrderPaid"}
    assert row.out_of_order is True
