"""The SQLite fold (set-based SQL, ``dashboard.lifecycles.fold``) against the merge PostgreSQL
runs in the ingest transaction (``tracking.State.apply``, in Python): the same events, in the same
order and the same requests, must leave the same records, out-of-order facts included."""

from __future__ import annotations

import itertools
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.events.envelope import NormalizedEvent
from dashboard.events.models import Event
from dashboard.ingest.store import store_events
from dashboard.lifecycles import fold
from dashboard.lifecycles.definitions import forget_lifecycles
from dashboard.lifecycles.fold import fold_pending, pending
from dashboard.lifecycles.models import Lifecycle, TrackingCursor, Transaction
from dashboard.lifecycles.tracking import MAX_FACTS, MAX_LINKS

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

LIFECYCLES = [
    {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid", "OrderShipped"],
     "timeout_seconds": 3600, "pattern": None},
    # Short: records started two minutes before the base time are past their deadline.
    {"name": "delivery", "key": "detail.order-id", "steps": ["OrderCreated", "OrderShipped"],
     "timeout_seconds": 60, "pattern": {"source": ["a"]}},
    {"name": "ping", "key": "source", "steps": ["OrderPaid"], "timeout_seconds": 7200, "pattern": None},
]  # fmt: skip
KINDS = ["OrderCreated", "OrderPaid", "OrderShipped", "OrderUpdated", "OrderNoted"]

# One event: (kind, source, producer id, key, seconds after the base time, trace, idempotency key).
# Few ids, times and sources, so that equal (time, id) pairs and exact duplicates occur; twelve
# traces, so that a record's sample of MAX_LINKS fills up.
event_specs = st.lists(
    st.tuples(
        st.sampled_from(KINDS), st.sampled_from(["a", "b"]), st.integers(0, 6), st.sampled_from(["o-1", "o-2", "o-3"]),
        st.sampled_from([-130, -61, 0, 1, 2]), st.integers(0, 12), st.sampled_from(["", "k-1", "k-2"]),
    ),
    min_size=1,
    max_size=40,
)  # fmt: skip


def _define(*lifecycles: dict[str, Any]) -> None:
    for item in lifecycles:
        Lifecycle.objects.create(**item)
    forget_lifecycles()


def _created_folded_then_paid() -> datetime:
    """The order lifecycle; o-1's OrderCreated folded, its OrderPaid stored and pending; the base time."""
    _define(LIFECYCLES[0])
    base = datetime.now(UTC).replace(microsecond=0)
    store_events(_events([("OrderCreated", "a", 1, "o-1", 0, 0, "")], base), base)
    fold_pending()
    store_events(_events([("OrderPaid", "a", 2, "o-1", 1, 0, "")], base), base)
    return base


MANY_UPDATES_FIRST = [("OrderUpdated", "a", n, "o-1", 0, n % 13, "k-1") for n in range(MAX_FACTS + 5)]


def _events(specs: list[tuple[str, str, int, str, int, int, str]], base: datetime) -> list[NormalizedEvent]:
    return [
        NormalizedEvent(
            event_id=f"e-{number}", source=source, detail_type=kind, time=base + timedelta(seconds=offset),
            detail={"order-id": key}, format="native", raw="{}", trace_id=f"{trace:032x}" if trace else "",
            idempotency_key=idempotency_key,
        )
        for kind, source, number, key, offset, trace, idempotency_key in specs
    ]  # fmt: skip


def _records() -> dict[tuple[str, str], dict[str, Any]]:
    """Every record, with stored ids (which differ between runs) replaced by what they stand for."""
    names = {event.id: f"{event.source}/{event.event_id}" for event in Event.objects.all()}

    def named(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "id": names[item["id"]]}

    return {
        (tx.lifecycle.name, tx.key): {
            "status": tx.status, "mask": (tx.steps_mask, tx.missing_count, tx.first_missing),
            "steps_seen": {step: named(seen) for step, seen in tx.steps_seen.items()},
            "step_order": list(tx.steps_seen), "out_of_order": tx.out_of_order,
            "facts": [named(fact) for fact in tx.out_of_order_events],
            "times": (tx.first_seen, tx.last_seen, tx.deadline), "overdue_at": tx.overdue_at,
            "counts": (tx.duplicates, tx.updates), "links": (tx.trace_ids, tx.idempotency_keys),
        }
        for tx in Transaction.objects.select_related("lifecycle")
    }  # fmt: skip


def _run(parts: list[list[NormalizedEvent]], folds: list[bool], monkeypatch: pytest.MonkeyPatch, sql: bool):
    Event.objects.all().delete()
    Transaction.objects.all().delete()
    with monkeypatch.context() as patch:
        patch.setattr(fold, "folds", lambda: sql)
        for part, fold_now in zip(parts, folds, strict=True):
            store_events(list(part), timezone.now())
            if fold_now and sql:
                fold_pending()
    if sql:
        fold_pending()
        assert not pending()
    return _records()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=event_specs, data=st.data())
def test_the_fold_leaves_the_records_the_python_merge_leaves(
    specs: list[tuple[str, str, int, str, int, int, str]], data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Lifecycle.objects.exists():
        _define(*LIFECYCLES)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=120)
    events = _events(specs, base)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(events) - 1)), max_size=4))))
    folds = data.draw(st.lists(st.booleans(), min_size=len(cuts) + 1, max_size=len(cuts) + 1))
    parts = [events[start:end] for start, end in itertools.pairwise([0, *cuts, len(events)]) if start < end]
    # Folded after each request, the moments at which the Python merge runs:
    expected = _run(parts, [True] * len(parts), monkeypatch, sql=False)
    assert expected  # every history here tracks something (every event has an order id)
    assert _differences(_run(parts, [True] * len(parts), monkeypatch, sql=True), expected) == []
    # Folded at other moments (several requests at once), only when a record went overdue can differ:
    # a fold that never saw it overdue (it was complete by then) records no such moment.
    batched = _run(parts, folds[: len(parts)], monkeypatch, sql=True)
    assert _differences(batched, expected, but=("overdue_at",)) == []


Records = dict[tuple[str, str], dict[str, Any]]


def _differences(folded: Records, expected: Records, but: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    assert sorted(folded) == sorted(expected)
    return [
        (pair, name, folded[pair][name], value)
        for pair, record in expected.items()
        for name, value in record.items()
        if name not in but and folded[pair][name] != value
    ]


def test_many_facts_and_links_are_capped_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(*LIFECYCLES)
    base = datetime.now(UTC) - timedelta(seconds=10)
    events = _events(MANY_UPDATES_FIRST, base)
    parts = [events[:7], events[7:]]
    records = _run(parts, [True, True], monkeypatch, sql=True)
    assert records == _run(parts, [True, True], monkeypatch, sql=False)
    order = records[("order", "o-1")]
    assert order["out_of_order"] and len(order["facts"]) == MAX_FACTS
    assert order["counts"] == (0, MAX_FACTS + 5)
    assert len(order["links"][0]) == MAX_LINKS and order["links"][0] == sorted(order["links"][0])


def test_an_event_near_the_end_of_the_calendar_gets_the_last_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(*LIFECYCLES)
    late = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    spec = [("OrderCreated", "a", 1, "o-1", 0, 0, "")]
    expected = _run([_events(spec, late)], [True], monkeypatch, sql=False)
    assert _run([_events(spec, late)], [True], monkeypatch, sql=True) == expected
    assert expected[("order", "o-1")]["times"][2] == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_deleting_the_newest_events_brings_the_fold_position_down() -> None:
    _define(LIFECYCLES[0])
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", n, f"o-{n}", 0, 0, "") for n in range(3)], base), base)
    fold_pending()
    Event.objects.filter(event_id__in=["e-1", "e-2"]).delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(rowid) FROM dashboard_event")
        (top,) = cursor.fetchone()
    assert TrackingCursor.objects.get().position == top
    # The rowids SQLite hands out again belong to new events, and they are folded.
    store_events(_events([("OrderPaid", "a", 9, "o-0", 1, 0, "")], base), base)
    fold_pending()
    assert Transaction.objects.get(key="o-0").steps_mask == 0b11


@pytest.mark.parametrize("stored_again", [False, True])
def test_events_deleted_while_their_merge_was_computed_leave_their_rowids_to_be_folded(
    monkeypatch: pytest.MonkeyPatch, stored_again: bool
) -> None:
    _define(LIFECYCLES[0])
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", n, f"o-{n}", 0, 0, "") for n in range(3)], base), base)
    paid = [("OrderPaid", "a", 10 + n, f"o-{n}", 1, 0, "") for n in range(3)]
    computed, compute = [], fold._compute

    def compute_then_delete(position: int, upto: int) -> None:
        compute(position, upto)
        if not computed:  # between the merge and its write, every event is deleted (a purge of them all)
            Event.objects.all().delete()
            if stored_again:  # and new ones get the same rowids
                store_events(_events(paid, base), base)
        computed.append((position, upto))

    monkeypatch.setattr(fold, "_compute", compute_then_delete)
    fold_pending()
    if not stored_again:
        store_events(_events(paid, base), base)
        fold_pending()
    # The merge of the deleted events was not written over the new ones: each new event is folded.
    assert sorted(Transaction.objects.values_list("key", "steps_mask")) == [("o-0", 2), ("o-1", 2), ("o-2", 2)]
    assert not pending()


def test_events_deleted_after_the_fold_read_where_they_end_leave_their_rowids_to_be_folded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", n, f"o-{n}", 0, 0, "") for n in range(3)], base), base)
    asked, tracking_defined = [], fold._tracking_defined

    def delete_then_tracking_defined() -> bool:
        if not asked:  # after the fold read the newest rowid, every event is deleted
            Event.objects.all().delete()
        asked.append(True)
        return tracking_defined()

    monkeypatch.setattr(fold, "_tracking_defined", delete_then_tracking_defined)
    fold_pending()  # no lifecycle: it would move past the events without reading them
    assert TrackingCursor.objects.filter(position__gt=0).count() == 0
    _define(LIFECYCLES[0])
    store_events(_events([("OrderPaid", "a", 10 + n, f"o-{n}", 1, 0, "") for n in range(3)], base), base)
    fold_pending()
    assert sorted(Transaction.objects.values_list("key", "steps_mask")) == [("o-0", 2), ("o-1", 2), ("o-2", 2)]


def test_among_equal_occurrences_of_a_step_the_first_to_arrive_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(*LIFECYCLES)
    base = datetime.now(UTC).replace(microsecond=0)
    # The same time and producer id from two sources: equal by (time, id); the first one wins, in
    # one request and across two.
    spec = [("OrderCreated", source, 1, "o-1", 0, 0, "") for source in ("b", "a", "b")]
    spec[2] = ("OrderCreated", "a", 2, "o-1", 0, 0, "")
    for parts in ([_events(spec, base)], [_events(spec[:1], base), _events(spec[1:], base)]):
        folded = _run(parts, [True] * len(parts), monkeypatch, sql=True)
        assert _differences(folded, _run(parts, [True] * len(parts), monkeypatch, sql=False)) == []
        assert folded[("order", "o-1")]["steps_seen"]["OrderCreated"]["id"] == "b/e-1"
        assert folded[("order", "o-1")]["counts"] == (2, 0)


def test_a_record_changed_while_its_merge_was_computed_is_merged_again(monkeypatch: pytest.MonkeyPatch) -> None:
    base = _created_folded_then_paid()
    overdue = base - timedelta(minutes=1)
    computed, compute = [], fold._compute

    def compute_then_another_writer(position: int, upto: int) -> None:
        compute(position, upto)
        if not computed:  # between the merge and its write, as the sweep would
            Transaction.objects.filter(key="o-1").update(status="incomplete", overdue_at=overdue)
        computed.append((position, upto))

    monkeypatch.setattr(fold, "_compute", compute_then_another_writer)
    assert fold_pending() == 1
    assert len(computed) == 2  # the stale merge was refused and done again
    record = Transaction.objects.get(key="o-1")
    assert (record.steps_mask, record.missing_count, record.overdue_at) == (0b11, 1, overdue)
    assert list(record.steps_seen) == ["OrderCreated", "OrderPaid"]


@pytest.mark.django_db(transaction=True)
def test_the_merge_is_computed_while_another_process_holds_the_write_lock() -> None:
    _define(LIFECYCLES[0])
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", n, f"o-{n}", 0, 0, "") for n in range(5)], base), base)
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=1)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 500")  # a merge that needed the lock would fail fast
        fold._compute(0, 10**9)  # reads a snapshot into temporary tables: no write lock needed
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM temp.fold_record")
            assert cursor.fetchone()[0] == 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        fold._clear()
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(connection.settings_dict['OPTIONS']['timeout'] * 1000)}")
    assert fold_pending() == 5 and Transaction.objects.count() == 5


@pytest.mark.usefixtures("transactional_db")
def test_the_server_folds_a_moment_after_ingest_without_being_asked(live_server_url: str, token: Any) -> None:
    headers = {"Authorization": f"Bearer {token.token}"}
    order = {key: value for key, value in LIFECYCLES[0].items() if key != "pattern"}
    created = requests.post(f"{live_server_url}/api/lifecycles", json=order, headers=headers, timeout=10)
    assert created.status_code == 201
    events = [{"source": "shop", "detail-type": "OrderCreated", "detail": {"order-id": f"o-{n}"}} for n in range(3)]
    # The server loads lifecycle definitions within its cache time: send until it tracks.
    deadline = time.monotonic() + 15
    while not Event.objects.exclude(lifecycle_matches=None).exists():
        assert time.monotonic() < deadline, "the server never matched an event to the lifecycle"
        response = requests.post(f"{live_server_url}/api/events", json=events, headers=headers, timeout=10)
        assert response.status_code == 200
        time.sleep(0.1)
    # Nobody reads the report: the server's folder thread alone brings the records in (within 1 s).
    while Transaction.objects.count() < 3 or pending():
        assert time.monotonic() < deadline + 2, "the server did not fold the tracked events"
        time.sleep(0.05)
    assert sorted(Transaction.objects.values_list("key", flat=True)) == ["o-0", "o-1", "o-2"]


@pytest.mark.django_db(transaction=True)
def test_after_the_events_are_numbered_afresh_the_fold_goes_on_from_the_same_event() -> None:
    _define(LIFECYCLES[0])
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", n, f"o-{n}", 0, 0, "") for n in range(6)], base), base)
    Event.objects.filter(event_id__in=["e-0", "e-1", "e-2"]).delete()  # gaps below the newest
    fold_pending()
    with connection.cursor() as cursor:
        # What rebuilding the table does (a migration that remakes it, a dump restored without
        # rowids): the same rows, in the same order, numbered afresh.
        cursor.execute("CREATE TEMP TABLE saved AS SELECT * FROM dashboard_event ORDER BY rowid")
        cursor.execute("DELETE FROM dashboard_event")
        cursor.execute("INSERT INTO dashboard_event SELECT * FROM temp.saved")
        cursor.execute("DROP TABLE temp.saved")
        cursor.execute("SELECT max(rowid) FROM dashboard_event")
        assert cursor.fetchone()[0] == 3
    store_events(_events([("OrderPaid", "a", 10 + n, f"o-{n}", 1, 0, "") for n in range(3, 6)], base), base)
    assert pending()
    fold_pending()
    assert TrackingCursor.objects.get().position == 6
    # Each record has both steps, and each step once: nothing was folded twice or skipped.
    records = Transaction.objects.values_list("key", "steps_mask", "duplicates")
    assert sorted(records) == [("o-3", 3, 0), ("o-4", 3, 0), ("o-5", 3, 0)]


def test_without_lifecycles_the_fold_moves_past_events_without_reading_them(monkeypatch: pytest.MonkeyPatch) -> None:
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", n, f"o-{n}", 0, 0, "") for n in range(3)], base), base)
    monkeypatch.setattr(fold, "_compute", lambda *_: pytest.fail("no lifecycle: nothing to compute"))
    fold_pending()
    assert not pending() and not Transaction.objects.exists()


@pytest.mark.django_db(transaction=True)  # the fold commits: a broken foreign key would fail it
def test_a_lifecycle_deleted_while_its_records_were_merged_leaves_no_record(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(*LIFECYCLES)
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", 1, "o-1", 0, 0, "")], base), base)
    compute = fold._compute

    def compute_then_delete(position: int, upto: int) -> None:
        compute(position, upto)
        Lifecycle.objects.filter(name="order").delete()

    monkeypatch.setattr(fold, "_compute", compute_then_delete)
    fold_pending()  # the insert would break the foreign key at commit: the merge is done again instead
    assert sorted(Transaction.objects.values_list("lifecycle__name", flat=True)) == ["delivery", "ping"]


def test_with_an_sqlite_older_than_3_38_ingest_merges_in_its_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(LIFECYCLES[0])
    monkeypatch.setattr(fold.sqlite3, "sqlite_version_info", (3, 37, 2))
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", 1, "o-1", 0, 0, "")], base), base)
    assert Transaction.objects.get().key == "o-1"  # no fold needed (and none possible)
    assert fold_pending() == 0


@pytest.mark.django_db(transaction=True)  # so that "inside the write transaction" can be told apart
def test_a_merge_refused_twice_is_done_under_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    base = _created_folded_then_paid()
    compute, locked, changes = fold._compute, [], iter(range(1, 100))

    def compute_then_another_writer(position: int, upto: int) -> None:
        compute(position, upto)
        if connection.in_atomic_block:
            locked.append((position, upto))
        else:  # off the lock: another writer gets in first, each time
            Transaction.objects.filter(key="o-1").update(overdue_at=base + timedelta(seconds=next(changes)))

    monkeypatch.setattr(fold, "_compute", compute_then_another_writer)
    assert fold_pending() == 1
    assert locked  # the third computation ran inside the write transaction, and nothing could change it
    assert Transaction.objects.get(key="o-1").steps_mask == 0b11


def test_a_gap_of_deleted_events_wider_than_a_chunk_is_folded_past(monkeypatch: pytest.MonkeyPatch) -> None:
    # Retention deletes runs of events: a chunk whose range holds none ends at the first event past
    # it, and the fold goes on (it neither stops nor waits there).
    _define(LIFECYCLES[0])
    monkeypatch.setattr(fold, "CHUNK", 2)
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", n, f"o-{n}", 0, 0, "") for n in range(10)], base), base)
    Event.objects.filter(event_id__in=[f"e-{n}" for n in range(1, 8)]).delete()
    fold_pending()
    assert sorted(Transaction.objects.values_list("key", flat=True)) == ["o-0", "o-8", "o-9"]
    assert not pending()


def test_the_last_event_of_a_chunk_deleted_while_it_was_merged_has_the_chunk_merged_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _define(LIFECYCLES[0])
    monkeypatch.setattr(fold, "CHUNK", 3)
    base = datetime.now(UTC)
    store_events(_events([("OrderCreated", "a", n, f"o-{n}", 0, 0, "") for n in range(6)], base), base)
    compute, chunks = fold._compute, []

    def compute_then_delete(position: int, upto: int) -> None:
        compute(position, upto)
        if not chunks:
            Event.objects.filter(event_id="e-2").delete()  # the first chunk's end, not the newest event
        chunks.append((position, upto))

    monkeypatch.setattr(fold, "_compute", compute_then_delete)
    fold_pending()
    assert chunks[:2] == [(0, 3), (0, 2)]  # refused at the write, merged again up to the event left
    assert sorted(Transaction.objects.values_list("key", flat=True)) == ["o-0", "o-1", "o-3", "o-4", "o-5"]
    assert not pending()
