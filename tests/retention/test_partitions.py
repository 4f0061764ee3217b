"""PostgreSQL's day partitions (``dashboard.core.partitions``, ``dashboard.retention.partitions``):
the converting migrations keep every row and id, rows land in their day's partition (or the DEFAULT
one), dedupe holds across days, and retention drops whole old days except one a replay needs.
Rows arrive through the ingest endpoints at chosen moments (time-machine)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from dashboard.core import partitions as core_partitions
from dashboard.core.ids import new_ids
from dashboard.events.envelope import NormalizedEvent
from dashboard.events.models import Event, EventKey
from dashboard.ingest.store import store_events
from dashboard.replay.models import Delivery, DeliveryAttempt, Replay
from dashboard.retention import partitions
from dashboard.retention.purge import purge
from tests.retention.helpers import at, post_events, post_logs, post_spans, received, trace_id
from tests.support.replay_helpers import T0, make_consumer, make_replay
from tracing.models import LogRecord, Span, SpanKey, SpanLink, TraceSummary, TraceTerm

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def partition_of(table: str, condition: str, params: list[Any]) -> set[str]:
    """The partitions holding the rows of ``table`` that match ``condition``."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE {condition}", params)
        return {row[0] for row in cursor.fetchall()}


def day_name(table: str, days_ago: float) -> str:
    return core_partitions.partition_name(table, at(days_ago).date())


def make_days(*days_ago: float) -> None:
    """The day partitions of these days, as upkeep made them the day before each."""
    for days in days_ago:
        partitions.keep_ahead(today=at(days + 1).date(), ahead=1)


# --- the converting migrations -----------------------------------------------------------------------


def test_the_migrations_convert_tables_with_rows_and_keep_the_rows_and_their_ids(api: Client) -> None:
    executor = MigrationExecutor(connection)
    before = [("events", "0002_event_schema_error"), ("tracing", "0003_traceterm_trace_index")]
    executor.migrate(before)
    assert not core_partitions.is_partitioned(connection, "dashboard_event")
    old = executor.loader.project_state(before).apps
    three_days_ago = at(3)
    event = old.get_model("events", "Event").objects.create(
        id="01KBZ8WZ000000000000000001", event_id="kept-1", source="shop.orders", detail_type="OrderCreated",
        time=three_days_ago, detail={"n": 1}, raw="{}", received_at=three_days_ago, format="native",
    )  # fmt: skip
    spans = [
        old.get_model("tracing", "Span").objects.create(
            trace_id=trace_id(7),
            span_id=f"{i + 1:016x}",
            name=f"s{i}",
            service="orders",
            start_ns=i,
            end_ns=i + 1,
            received_at=three_days_ago if i else timezone.now(),
        )
        for i in range(3)
    ]
    log = old.get_model("tracing", "LogRecord").objects.create(time_ns=5, body="kept", received_at=three_days_ago)

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    for table in ("dashboard_event", "tracing_span", "tracing_logrecord"):
        assert core_partitions.is_partitioned(connection, table)
    stored = Event.objects.get(pk=event.pk)
    assert (stored.event_id, stored.detail, stored.received_at) == ("kept-1", {"n": 1}, three_days_ago)
    assert sorted(Span.objects.values_list("id", "span_id")) == sorted((s.id, s.span_id) for s in spans)
    assert LogRecord.objects.get(pk=log.pk).body == "kept"
    assert partition_of("dashboard_event", "id = %s", [event.pk]) == {day_name("dashboard_event", 3)}
    assert partition_of("tracing_logrecord", "id = %s", [log.pk]) == {day_name("tracing_logrecord", 3)}
    # The id sequences go on from where they were.
    post_spans(api, trace_id(8), 1)
    assert Span.objects.get(trace_id=trace_id(8)).id > max(s.id for s in spans)
    # The keys came along: the same event and spans sent again are duplicates.
    response = api.post(
        "/api/events",
        [{"id": "kept-1", "source": "shop.orders", "detail-type": "OrderCreated", "detail": {}}],
        content_type="application/json",
    )
    assert response.json()["results"] == [{"index": 0, "status": "duplicate", "id": event.pk}]
    post_spans(api, trace_id(7), 3)
    assert Span.objects.filter(trace_id=trace_id(7)).count() == 3


# --- where rows land, and dedupe across days ---------------------------------------------------------


def test_rows_land_in_the_partition_of_the_day_they_were_received(api: Client) -> None:
    make_days(5)
    with received(days_ago=5):
        [stored] = post_events(api, "five", 1)
        post_spans(api, trace_id(1), 2)
        post_logs(api, "five", 1)
    assert partition_of("dashboard_event", "id = %s", [stored]) == {day_name("dashboard_event", 5)}
    assert partition_of("tracing_span", "trace_id = %s", [trace_id(1)]) == {day_name("tracing_span", 5)}
    assert partition_of("tracing_logrecord", "TRUE", []) == {day_name("tracing_logrecord", 5)}


def test_an_event_sent_again_the_next_day_is_still_a_duplicate(api: Client) -> None:
    make_days(6, 5)
    with received(days_ago=6):
        [first] = post_events(api, "retry", 1)
    with received(days_ago=5):
        response = api.post(
            "/api/events",
            [
                {"id": "retry-0", "source": "shop.orders", "detail-type": "OrderCreated", "detail": {}},
                {"id": "retry-1", "source": "shop.orders", "detail-type": "OrderCreated", "detail": {}},
            ],
            content_type="application/json",
        )
    [again, fresh] = response.json()["results"]
    assert again == {"index": 0, "status": "duplicate", "id": first}
    assert fresh["status"] == "accepted"
    assert Event.objects.filter(event_id="retry-0").count() == 1
    assert partition_of("dashboard_event", "event_id = %s", ["retry-0"]) == {day_name("dashboard_event", 6)}
    assert EventKey.objects.count() == 2


def test_spans_exported_again_the_next_day_are_stored_and_counted_once(api: Client) -> None:
    make_days(6, 5)
    with received(days_ago=6):
        post_spans(api, trace_id(2), 3)
    with received(days_ago=5):
        post_spans(api, trace_id(2), 4)  # the same three, and one more
    assert Span.objects.filter(trace_id=trace_id(2)).count() == 4
    assert partition_of("tracing_span", "span_id <> %s", [f"{4:016x}"]) == {day_name("tracing_span", 6)}
    assert TraceSummary.objects.get(trace_id=trace_id(2)).span_count == 4
    assert SpanKey.objects.count() == 4


def test_rows_received_on_a_day_without_a_partition_land_in_the_default_one_and_stay_there(
    api: Client,
) -> None:
    far = -400  # a clock far in the future; then one far in the past
    for trace, days in enumerate((far, 4000), start=1):
        with received(days_ago=days):
            [stored] = post_events(api, f"far{days}", 1)
            post_spans(api, trace_id(trace), 1)
            post_logs(api, f"far{days}", 1)
        assert partition_of("dashboard_event", "id = %s", [stored]) == {"dashboard_event_pdefault"}
        assert partition_of("tracing_span", "trace_id = %s", [trace_id(trace)]) == {"tracing_span_pdefault"}
    assert partition_of("tracing_logrecord", "TRUE", []) == {"tracing_logrecord_pdefault"}

    # Upkeep reaching a day the DEFAULT partition holds rows of does not make it (no row moves); the
    # days around it are made.
    made = partitions.keep_ahead(today=at(far + 1).date(), ahead=2)
    assert day_name("dashboard_event", far) not in made and day_name("dashboard_event", far - 1) in made
    assert partition_of("dashboard_event", "event_id = %s", [f"far{far}-0"]) == {"dashboard_event_pdefault"}
    assert Event.objects.count() == 2 and Span.objects.count() == 2 and LogRecord.objects.count() == 2
    assert EventKey.objects.count() == 2 and SpanKey.objects.count() == 2


def test_an_event_or_span_deleted_any_way_takes_its_key_along(api: Client) -> None:
    [stored] = post_events(api, "gone", 1)
    post_spans(api, trace_id(3), 2)
    Event.objects.filter(pk=stored).delete()  # not the purge: the collector, as any code may
    Span.objects.filter(span_id=f"{1:016x}").delete()
    assert not EventKey.objects.exists() and SpanKey.objects.count() == 1
    # Sent again, they are new: stored again, under a new id.
    [again] = post_events(api, "gone", 1)
    post_spans(api, trace_id(3), 2)
    assert again != stored and Event.objects.get().pk == again
    assert Span.objects.filter(trace_id=trace_id(3)).count() == 2


def test_upkeep_makes_the_next_days_once_and_never_today() -> None:
    today = timezone.now().date()
    made = partitions.keep_ahead(today=today + timedelta(days=10), ahead=2)
    assert sorted(made) == sorted(
        core_partitions.partition_name(table, today + timedelta(days=days))
        for table in ("dashboard_event", "tracing_span", "tracing_logrecord")
        for days in (11, 12)
    )
    assert partitions.keep_ahead(today=today + timedelta(days=10), ahead=2) == []


# --- retention ---------------------------------------------------------------------------------------


@pytest.fixture
def old_days(api: Client) -> dict[str, list[str]]:
    """Events 41, 40 and 10 days old and new, each old day in its partition; spans and logs 10 and
    9 days old (retention 30 days for events, 7 for spans and logs), the newer trace linking to the
    older one; and something old in the DEFAULT partition."""
    make_days(41, 40, 10, 9)
    out = {}
    for days in (41, 40, 10):
        with received(days_ago=days):
            out[str(days)] = post_events(api, f"d{days}", 2)
    with received(days_ago=10):
        post_spans(api, trace_id(1), 2)
        post_logs(api, "ten", 2)
    with received(days_ago=9):
        post_spans(api, trace_id(2), 1, link_to=trace_id(9))
        post_logs(api, "nine", 1)
    with received(days_ago=100):  # no partition for that day
        out["default"] = post_events(api, "d100", 1)
    out["new"] = post_events(api, "new", 1)
    return out


def test_a_purge_drops_whole_old_days_and_deletes_the_rest_in_batches(old_days: dict[str, list[str]]) -> None:
    outcomes = {outcome.kind: outcome for outcome in purge(pause_ms=0)}
    events, spans, logs = outcomes["events"], outcomes["spans"], outcomes["logs"]
    assert events.dropped == [(day_name("dashboard_event", 41), 2), (day_name("dashboard_event", 40), 2)]
    assert events.deleted == 5  # and the one in the DEFAULT partition, in a batch
    assert set(Event.objects.values_list("id", flat=True)) == {*old_days["10"], *old_days["new"]}
    assert set(EventKey.objects.values_list("stored_id", flat=True)) == {*old_days["10"], *old_days["new"]}
    # Upkeep made the same days for every table: the span table's days 41 and 40 are empty.
    assert spans.dropped == [
        (day_name("tracing_span", 41), 0),
        (day_name("tracing_span", 40), 0),
        (day_name("tracing_span", 10), 2),
        (day_name("tracing_span", 9), 1),
    ]
    assert (spans.deleted, logs.deleted) == (3, 3)
    assert not Span.objects.exists() and not SpanKey.objects.exists() and not SpanLink.objects.exists()
    assert not TraceSummary.objects.exists() and not TraceTerm.objects.exists()
    assert not LogRecord.objects.exists()
    names = {day.name for day in core_partitions.day_partitions(connection, "dashboard_event")}
    assert day_name("dashboard_event", 40) not in names and day_name("dashboard_event", 10) in names


def test_a_day_a_running_replay_needs_is_kept_and_its_other_events_deleted(api: Client) -> None:
    make_days(41, 40)
    with received(days_ago=41):
        post_events(api, "plain", 2)
    with received(days_ago=40):
        post_events(api, "plain40", 1)
        [needed] = post_events(api, "replayed", 1, time=(T0 + timedelta(hours=1)).isoformat())
        [finished_one] = post_events(api, "delivered", 1)
    consumer = make_consumer("c", "http://127.0.0.1:9/")
    make_replay([consumer], name="walking", state=Replay.RUNNING)  # its range (T0, one day) holds `needed`
    done = make_replay([consumer], name="done", state=Replay.COMPLETED, walk_done=True, delivered=1)
    gone = Delivery.objects.create(replay=done, event_id=finished_one, consumer=consumer, seq=1, updated_at=T0)
    DeliveryAttempt.objects.create(
        delivery=gone, consumer=consumer, replay=done, number=1, at=T0, latency_ms=1, outcome="delivered"
    )

    [outcome] = purge(pause_ms=0, kinds=("events",))
    assert outcome.dropped == [(day_name("dashboard_event", 41), 2)]
    assert (outcome.deleted, outcome.kept) == (4, 1)
    assert list(Event.objects.values_list("id", flat=True)) == [needed]
    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()
    assert day_name("dashboard_event", 40) in {
        d.name for d in core_partitions.day_partitions(connection, "dashboard_event")
    }

    Replay.objects.update(state=Replay.COMPLETED)  # finished: the day goes whole
    [outcome] = purge(pause_ms=0, kinds=("events",))
    assert outcome.dropped == [(day_name("dashboard_event", 40), 1)] and not Event.objects.exists()


def test_a_dry_run_names_the_partitions_it_would_drop_and_drops_nothing(old_days: dict[str, list[str]]) -> None:
    out = StringIO()
    call_command("purge", "--dry-run", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("events: 5 would be deleted (received before ")
    assert lines[1] == (
        f"  would drop 2 day partitions: {day_name('dashboard_event', 41)} (2), {day_name('dashboard_event', 40)} (2)"
    )
    assert lines[2].startswith("spans: 3 would be deleted")
    assert (
        lines[3] == "  would drop 4 day partitions: "
        f"{day_name('tracing_span', 41)} (0), {day_name('tracing_span', 40)} (0), "
        f"{day_name('tracing_span', 10)} (2), {day_name('tracing_span', 9)} (1)"
    )
    assert Event.objects.count() == 8 and Span.objects.count() == 3 and LogRecord.objects.count() == 3
    assert day_name("dashboard_event", 41) in {
        d.name for d in core_partitions.day_partitions(connection, "dashboard_event")
    }


@pytest.mark.django_db(transaction=True)
def test_a_day_whose_table_another_query_holds_is_left_for_the_next_purge_with_its_keys_and_links(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Committed (transaction=True): the reader below sees the new partition and waits for nothing.
    make_days(41, 10)
    with received(days_ago=41):
        old = post_events(api, "held", 2)
    with received(days_ago=10):
        post_spans(api, trace_id(1), 2, link_to=trace_id(9))
    done = make_replay([make_consumer("c", "http://127.0.0.1:9/")], name="done", state=Replay.COMPLETED)
    Delivery.objects.create(replay=done, event_id=old[0], consumer=done.consumers.get(), seq=1, updated_at=T0)
    monkeypatch.setattr(core_partitions, "DETACH_LOCK_TIMEOUT_MS", 200)
    with _session() as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM dashboard_event")  # a long read: its lock lasts until it ends
        reader.execute("SELECT count(*) FROM tracing_span")
        [events, spans] = purge(pause_ms=0, kinds=("events", "spans"))
        reader.execute("COMMIT")
    assert not events.finished and events.dropped == [] and events.deleted == 0
    assert not spans.finished and spans.dropped == [] and spans.deleted == 0
    # The days' rows are all there, and so is what goes with them: a producer's retry of one of
    # those events is still a duplicate.
    assert set(Event.objects.values_list("id", flat=True)) == set(old)
    assert set(EventKey.objects.values_list("stored_id", flat=True)) == set(old)
    assert Delivery.objects.filter(event_id=old[0]).exists()
    assert SpanKey.objects.count() == 2 and SpanLink.objects.count() == 1
    response = api.post(
        "/api/events",
        [{"id": "held-0", "source": "shop.orders", "detail-type": "OrderCreated", "detail": {}}],
        content_type="application/json",
    )
    assert response.json()["results"][0]["status"] == "duplicate"

    [events, spans] = purge(pause_ms=0, kinds=("events", "spans"))  # the reader is gone
    assert events.finished and events.dropped == [(day_name("dashboard_event", 41), 2)]
    assert not EventKey.objects.exists() and not Delivery.objects.exists()
    assert not SpanKey.objects.exists() and not SpanLink.objects.exists() and not TraceSummary.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_replay_planned_while_the_detach_waits_for_the_table_keeps_the_day(api: Client) -> None:
    make_days(41)
    with received(days_ago=41):
        [wanted] = post_events(api, "wanted", 1)
    consumer = make_consumer("c", "http://127.0.0.1:9/")
    read, go = threading.Event(), threading.Event()

    def plan() -> None:
        # A replay planned from events it reads, in one transaction (as a selection is).
        with transaction.atomic():
            assert Event.objects.filter(pk=wanted).exists()
            read.set()
            go.wait()
            replay = make_replay([consumer], name="late", state=Replay.RUNNING, walk_done=True)
            Delivery.objects.create(replay=replay, event_id=wanted, consumer=consumer, seq=1, updated_at=T0)

    planned = _in_thread(plan)
    read.wait()
    purging = _in_thread(lambda: purge(pause_ms=0, kinds=("events",)))
    _wait_until_a_session_waits_for("dashboard_event")  # the detach waits for the planner's transaction
    go.set()
    planned()
    [outcome] = purging()
    assert outcome.dropped == [] and outcome.kept == 1
    assert list(Event.objects.values_list("id", flat=True)) == [wanted]
    assert EventKey.objects.filter(stored_id=wanted).exists()


# --- lookups by stored id ----------------------------------------------------------------------------


def test_an_event_is_found_by_its_id_near_the_time_the_id_carries_or_anywhere(api: Client) -> None:
    make_days(20)
    with received(days_ago=20):
        [stored] = post_events(api, "found", 1)
    assert api.get(f"/api/events/{stored}").json()["id"] == stored
    # An id whose time is far from its received time (a clock far off) is found all the same.
    Event.objects.create(
        id=new_ids(1)[0][:10] + "0" * 16, event_id="odd", source="s", detail_type="T", time=at(300),
        raw="{}", received_at=at(300), format="native",
    )  # fmt: skip
    odd = Event.objects.get(event_id="odd").pk
    assert api.get(f"/api/events/{odd}").json()["id"] == odd
    assert api.get("/api/events/not-an-id").status_code == 404


def test_a_day_left_detached_by_a_stopped_purge_is_finished_by_the_next(api: Client) -> None:
    make_days(41, 10)
    with received(days_ago=41):
        old = post_events(api, "stopped", 2)
    with received(days_ago=10):
        post_spans(api, trace_id(1), 2, link_to=trace_id(9))
    done = make_replay([make_consumer("c", "http://127.0.0.1:9/")], name="done", state=Replay.COMPLETED)
    Delivery.objects.create(replay=done, event_id=old[0], consumer=done.consumers.get(), seq=1, updated_at=T0)
    names = [day_name("dashboard_event", 41), day_name("tracing_span", 10)]
    with connection.cursor() as cursor:  # what a purge stopped right after its detach leaves
        cursor.execute(f'ALTER TABLE dashboard_event DETACH PARTITION "{names[0]}"')
        cursor.execute(f'ALTER TABLE tracing_span DETACH PARTITION "{names[1]}"')
    assert not Event.objects.exists() and not Span.objects.exists()
    assert EventKey.objects.count() == 2 and TraceSummary.objects.count() == 1
    [events, spans] = purge(pause_ms=0, kinds=("events", "spans"))
    assert (events.dropped[0], spans.dropped[0]) == ((names[0], 2), (names[1], 2))
    assert not EventKey.objects.exists() and not Delivery.objects.exists()
    assert not SpanKey.objects.exists() and not SpanLink.objects.exists()
    assert not TraceSummary.objects.exists() and not TraceTerm.objects.exists()
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute("SELECT to_regclass(%s)", [name])
            assert cursor.fetchone()[0] is None


# --- dedupe under concurrent requests ----------------------------------------------------------------


def _at_once(work: Callable[[int], Any], threads: int = 2) -> list[Any]:
    """``work(n)`` in ``threads`` threads started together, each on its own database connection."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def run(n: int) -> None:
        try:
            barrier.wait()
            results[n] = work(n)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_the_same_events_sent_by_two_requests_at_once_are_stored_once() -> None:
    for round_ in range(5):
        batch = [
            NormalizedEvent(
                event_id=f"r{round_}-{i}", source="shop", detail_type="OrderCreated", time=timezone.now(),
                detail={"i": i}, format="native", raw="{}",
            )
            for i in range(50)
        ]  # fmt: skip
        answers = _at_once(lambda n, batch=batch: store_events(list(batch), timezone.now()))
        for first, second in zip(*answers, strict=True):
            assert {first.status, second.status} == {"accepted", "duplicate"}
            assert first.id == second.id
        assert Event.objects.filter(event_id__startswith=f"r{round_}-").count() == 50
    assert EventKey.objects.count() == 250


@pytest.mark.django_db(transaction=True)
def test_the_same_spans_exported_by_two_requests_at_once_are_stored_and_counted_once(api: Client) -> None:
    for round_ in range(5):
        trace = trace_id(100 + round_)
        _at_once(
            lambda n, trace=trace: post_spans(Client(HTTP_AUTHORIZATION=api.defaults["HTTP_AUTHORIZATION"]), trace, 20)
        )
        assert Span.objects.filter(trace_id=trace).count() == 20
        assert TraceSummary.objects.get(trace_id=trace).span_count == 20


# --- upkeep, ingest and detach at once -----------------------------------------------------------------


def _session() -> psycopg.Connection[Any]:
    """A connection of its own to the test database (autocommit: each transaction explicit)."""
    params = connection.get_connection_params()
    return psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True)


def _wait_until_a_session_waits_for(relation: str) -> None:
    """Return once some session waits for a lock on ``relation`` (fail after 30 s)."""
    with _session() as watch:
        deadline = time.monotonic() + 30
        while not watch.execute(
            "SELECT EXISTS (SELECT FROM pg_locks WHERE NOT granted AND relation = to_regclass(%s))", [relation]
        ).fetchone()[0]:
            assert time.monotonic() < deadline, watch.execute(
                "SELECT wait_event_type, wait_event, state, query FROM pg_stat_activity WHERE backend_type = %s",
                ["client backend"],
            ).fetchall()
            time.sleep(0.01)


def _in_thread(work: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``work`` on a thread of its own (its own database connection); the function returned
    waits for it and answers what it returned (or raises what it raised)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except BaseException as err:  # handed to the caller
            out["error"] = err
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()

    def result() -> Any:
        thread.join()
        if "error" in out:
            raise out["error"]
        return out["value"]

    return result


def _drop_days(table: str, days: list[Any]) -> None:
    with connection.cursor() as cursor:
        for day in days:
            cursor.execute(f'DROP TABLE IF EXISTS "{core_partitions.partition_name(table, day)}"')


@pytest.mark.django_db(transaction=True)
def test_an_insert_a_partition_attached_while_it_waited_refuses_is_answered_503_and_stored_when_sent_again(
    api: Client,
) -> None:
    future = at(-200)  # a day without a partition: its rows go to the DEFAULT partition
    headers = {"HTTP_AUTHORIZATION": api.defaults["HTTP_AUTHORIZATION"]}
    entry = [{"id": "late", "source": "shop.orders", "detail-type": "OrderCreated", "detail": {}}]
    with _session() as other, received(days_ago=-200):
        other.execute("BEGIN")
        other.execute("LOCK TABLE dashboard_event_pdefault IN ACCESS EXCLUSIVE MODE")
        answer = _in_thread(lambda: Client(**headers).post("/api/events", entry, content_type="application/json"))
        _wait_until_a_session_waits_for("dashboard_event_pdefault")
        name = core_partitions.partition_name("dashboard_event", future.date())
        other.execute(f'CREATE TABLE "{name}" (LIKE dashboard_event INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
        start = core_partitions.day_start(future.date())
        other.execute(
            f'ALTER TABLE dashboard_event ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')"
        )
        other.execute("COMMIT")
        response = answer()
        assert response.status_code == 503 and response["Retry-After"] == "1"
        assert not Event.objects.exists() and not EventKey.objects.exists()
        [stored] = post_events(api, "late", 1)  # sent again: routed to the new day
    assert partition_of("dashboard_event", "id = %s", [stored]) == {name}


@pytest.mark.django_db(transaction=True)
def test_events_that_wait_for_the_default_partition_while_upkeep_makes_days_are_stored(api: Client) -> None:
    # Upkeep was down for days: today and the days after have no partition, today's rows go to DEFAULT.
    today = timezone.now().date()
    _drop_days("dashboard_event", core_partitions.days_ahead(today, core_partitions.DAYS_AHEAD + 1))
    headers = {"HTTP_AUTHORIZATION": api.defaults["HTTP_AUTHORIZATION"]}
    with transaction.atomic():
        made = partitions.keep_ahead()  # its locks are held until the commit
        answer = _in_thread(lambda: post_events(Client(**headers), "today", 2))
        _wait_until_a_session_waits_for("dashboard_event_pdefault")
    stored = answer()
    assert core_partitions.partition_name("dashboard_event", today) not in made
    assert core_partitions.partition_name("dashboard_event", today + timedelta(days=1)) in made
    assert partition_of("dashboard_event", "TRUE", []) == {"dashboard_event_pdefault"}
    assert set(Event.objects.values_list("id", flat=True)) == set(stored)


@pytest.mark.django_db(transaction=True)
def test_upkeep_and_a_detach_lock_the_table_before_its_default_partition_so_neither_deadlocks() -> None:
    tomorrow = timezone.now().date() + timedelta(days=1)
    _drop_days("dashboard_event", [tomorrow])
    with _session() as detach:
        detach.execute("BEGIN")
        detach.execute("LOCK TABLE dashboard_event IN ACCESS EXCLUSIVE MODE")  # what DETACH takes first
        made = _in_thread(lambda: partitions.keep_ahead(ahead=1))
        _wait_until_a_session_waits_for("dashboard_event")
        detach.execute("LOCK TABLE dashboard_event_pdefault IN ACCESS EXCLUSIVE MODE")  # and then
        detach.execute("COMMIT")
    assert core_partitions.partition_name("dashboard_event", tomorrow) in made()


@pytest.mark.django_db(transaction=True)
def test_upkeep_that_cannot_lock_the_default_partition_in_time_gives_up_and_the_next_one_makes_the_days(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tomorrow = timezone.now().date() + timedelta(days=1)
    _drop_days("dashboard_event", [tomorrow])
    monkeypatch.setattr(core_partitions, "DETACH_LOCK_TIMEOUT_MS", 200)
    name = core_partitions.partition_name("dashboard_event", tomorrow)
    with _session() as reader:
        reader.execute("BEGIN")
        # A long read of the DEFAULT partition: the attach's exclusive lock on it is not had in time.
        reader.execute("SELECT count(*) FROM dashboard_event_pdefault")
        assert name not in partitions.keep_ahead(ahead=1)
        reader.execute("COMMIT")
    assert name in partitions.keep_ahead(ahead=1)


def test_migrating_back_deletes_deliveries_whose_event_is_gone_and_restores_their_foreign_key() -> None:
    [kept, gone] = [Event.objects.create(
        id=new_ids(1)[0], event_id=f"back-{n}", source="s", detail_type="T", time=T0, raw="{}",
        received_at=timezone.now(), format="native",
    ) for n in range(2)]  # fmt: skip
    consumer = make_consumer("c", "http://127.0.0.1:9/")
    done = make_replay([consumer], name="done", state=Replay.COMPLETED, walk_done=True)
    for seq, event in enumerate((kept, gone)):
        delivery = Delivery.objects.create(replay=done, event_id=event.pk, consumer=consumer, seq=seq, updated_at=T0)
        DeliveryAttempt.objects.create(
            delivery=delivery, consumer=consumer, replay=done, number=1, at=T0, latency_ms=1, outcome="delivered"
        )
    Event.objects.filter(pk=gone.pk)._raw_delete(Event.objects.db)  # as a dropped day takes it
    with connection.cursor() as cursor:  # the rows' own checks done, as at their commit
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    executor = MigrationExecutor(connection)
    executor.migrate([("events", "0002_event_schema_error")])
    assert not core_partitions.is_partitioned(connection, "dashboard_event")
    assert list(Delivery.objects.values_list("event_id", flat=True)) == [kept.pk]
    assert DeliveryAttempt.objects.count() == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'dashboard_delivery'::regclass "
            "AND confrelid = 'dashboard_event'::regclass"
        )
        assert cursor.fetchone()[0] == 1
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert core_partitions.is_partitioned(connection, "dashboard_event")
