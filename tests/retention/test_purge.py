"""The purge (``dashboard.retention.purge``): what is older than its kind's retention goes, what is
newer stays, what a pending or running replay needs stays, and what points at purged rows follows
them. Rows are ingested through the endpoints at moments in the past (time-machine)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from dashboard.events.models import Event
from dashboard.replay.models import Delivery, DeliveryAttempt, Replay
from dashboard.retention.purge import purge
from tests.retention.helpers import post_events, post_logs, post_spans, received, trace_id
from tests.support.replay_helpers import T0, archive_event, make_consumer, make_replay
from tracing.models import LogRecord, ServiceOperation, Span, SpanLink, TraceSummary, TraceTerm
from tracing.summaries import summarise_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def counts(outcomes: list[Any]) -> dict[str, int]:
    """Rows deleted per kind of row stored by ingest (the service map's rollups: test_purge_servicemap;
    transaction records: test_purge_transactions)."""
    return {outcome.kind: outcome.deleted for outcome in outcomes if outcome.kind not in ("servicemap", "transactions")}


@pytest.fixture
def archive(api: Client) -> dict[str, list[str]]:
    """Events 40 and 10 days old and new; spans and logs likewise (retention: 30 days for events,
    7 for spans and logs). The 10-day-old trace links to the 40-day-old one; a new one links to it."""
    with received(days_ago=40):
        old = post_events(api, "old", 3)
        post_spans(api, trace_id(1), 3)
        post_logs(api, "old", 2)
    with received(days_ago=10):
        middle = post_events(api, "middle", 2)
        post_spans(api, trace_id(2), 2, link_to=trace_id(1))
        post_logs(api, "middle", 2)
    new = post_events(api, "new", 1)
    post_spans(api, trace_id(3), 1, link_to=trace_id(2))
    post_logs(api, "new", 1)
    summarise_pending()  # SQLite summarises after ingest; the search tables are full before the purge
    return {"old": old, "middle": middle, "new": new}


def test_what_is_older_than_its_retention_is_purged_and_the_rest_kept(archive: dict[str, list[str]]) -> None:
    outcomes = purge(pause_ms=0, batch_size=2)
    assert counts(outcomes) == {"events": 3, "spans": 5, "logs": 4}
    assert all(outcome.finished and outcome.cutoff is not None for outcome in outcomes)
    assert set(Event.objects.values_list("id", flat=True)) == {*archive["middle"], *archive["new"]}
    assert set(Span.objects.values_list("trace_id", flat=True)) == {trace_id(3)}
    assert sorted(LogRecord.objects.values_list("body", flat=True)) == ["new 0"]
    # Trace search forgets the purged traces (summary and terms); the new trace's link stays.
    assert list(TraceSummary.objects.values_list("trace_id", flat=True)) == [trace_id(3)]
    summary = TraceSummary.objects.get()
    assert set(TraceTerm.objects.values_list("trace", flat=True)) == {summary.pk}
    assert list(SpanLink.objects.values_list("trace_id", "linked_trace_id")) == [(trace_id(3), trace_id(2))]
    # Per-service operation counts are an aggregate: they keep counting what was stored.
    assert sum(ServiceOperation.objects.values_list("spans", flat=True)) == 6


def test_a_second_purge_finds_nothing(archive: dict[str, list[str]]) -> None:
    purge(pause_ms=0)
    assert counts(purge(pause_ms=0)) == {"events": 0, "spans": 0, "logs": 0}


def test_searches_and_pages_no_longer_find_purged_rows(api: Client, archive: dict[str, list[str]]) -> None:
    purge(pause_ms=0)
    found = api.get("/api/events", {"limit": 100}).json()["results"]
    assert {row["id"] for row in found} == {*archive["middle"], *archive["new"]}
    assert api.get(f"/api/events/{archive['old'][0]}").status_code == 404
    traces = api.get("/api/traces", {"service": "orders"}).json()["results"]
    assert [row["trace_id"] for row in traces] == [trace_id(3)]


def test_a_dry_run_counts_what_a_purge_deletes_and_deletes_nothing(archive: dict[str, list[str]]) -> None:
    before = (Event.objects.count(), Span.objects.count(), LogRecord.objects.count(), TraceSummary.objects.count())
    planned = purge(dry_run=True, batch_size=2)
    assert counts(planned) == {"events": 3, "spans": 5, "logs": 4}
    after = (Event.objects.count(), Span.objects.count(), LogRecord.objects.count(), TraceSummary.objects.count())
    assert after == before
    assert counts(purge(pause_ms=0)) == counts(planned)


def test_zero_days_keeps_a_kind_forever(archive: dict[str, list[str]], settings: Any) -> None:
    settings.EVENTSCOPE_RETENTION_DAYS_LOGS = 0
    settings.EVENTSCOPE_RETENTION_DAYS_EVENTS = 5
    outcomes = {outcome.kind: outcome for outcome in purge(pause_ms=0)}
    assert outcomes["logs"].cutoff is None and outcomes["logs"].deleted == 0
    assert LogRecord.objects.count() == 5
    assert outcomes["events"].deleted == 5  # 5 days: the 10-day-old events go too
    assert set(Event.objects.values_list("id", flat=True)) == set(archive["new"])


def test_each_batch_is_its_own_short_transaction_with_a_pause_after_it(archive: dict[str, list[str]]) -> None:
    pauses: list[float] = []
    outcomes = purge(kinds=("events",), batch_size=1, pause_ms=20, sleep=pauses.append)
    assert counts(outcomes) == {"events": 3}
    assert len(pauses) == 3 and all(pause >= 0.02 for pause in pauses)


def test_a_purge_out_of_time_stops_and_the_next_one_goes_on(archive: dict[str, list[str]]) -> None:
    cut_short = purge(pause_ms=0, budget_seconds=0)
    assert counts(cut_short) == {"events": 0, "spans": 0, "logs": 0}
    assert not any(outcome.finished for outcome in cut_short)
    assert counts(purge(pause_ms=0)) == {"events": 3, "spans": 5, "logs": 4}


def test_received_time_decides_not_the_events_own_time(api: Client) -> None:
    with received(days_ago=40):
        post_events(api, "late-arrival", 1, time=(T0 + timedelta(days=300)).isoformat())
    post_events(api, "old-but-new", 1, time=(T0 - timedelta(days=300)).isoformat())
    assert counts(purge(pause_ms=0, kinds=("events",))) == {"events": 1}
    assert Event.objects.get().detail == {"tag": "old-but-new"}


# --- replays -----------------------------------------------------------------------------------------


def old_events(seconds: list[float], days_ago: float = 40) -> list[Event]:
    with received(days_ago=days_ago):
        return [archive_event(second) for second in seconds]


def test_events_a_running_or_pending_replay_needs_are_kept() -> None:
    # In the running replay's range (T0 .. T0 + 1 day) and not walked yet; before its range.
    in_range = old_events([10, 20, 30])
    outside = old_events([-1000, -900, -800])
    consumer = make_consumer("c", "http://127.0.0.1:9/")
    walking = make_replay([consumer], name="walking", state=Replay.RUNNING)
    # A selection replay, planned at creation: it needs exactly the events of its deliveries.
    selection = make_replay([consumer], name="picked", walk_done=True)
    Delivery.objects.create(replay=selection, event=outside[0], consumer=consumer, seq=1, updated_at=T0)
    # A finished replay needs nothing: its delivery and attempt go with the event.
    done = make_replay([consumer], name="done", state=Replay.COMPLETED, walk_done=True, delivered=1)
    gone = Delivery.objects.create(replay=done, event=outside[1], consumer=consumer, seq=1, updated_at=T0)
    DeliveryAttempt.objects.create(
        delivery=gone, consumer=consumer, replay=done, number=1, at=T0, latency_ms=1, outcome="delivered"
    )

    [outcome] = purge(pause_ms=0, kinds=("events",))
    assert (outcome.deleted, outcome.kept) == (2, 4)
    assert set(Event.objects.values_list("pk", flat=True)) == {e.pk for e in [*in_range, outside[0]]}
    assert not Delivery.objects.filter(replay=done).exists() and not DeliveryAttempt.objects.exists()
    assert Replay.objects.get(pk=done.pk).delivered == 1  # the finished replay's record stays
    assert Delivery.objects.filter(replay=selection).count() == 1

    # Once the walk has passed an event without planning it (not matched), it is no longer needed.
    Replay.objects.filter(pk=walking.pk).update(cursor_time=T0 + timedelta(seconds=20), cursor_event=in_range[1].pk)
    [outcome] = purge(pause_ms=0, kinds=("events",))
    assert (outcome.deleted, outcome.kept) == (1, 3)
    # Finished, they go.
    Replay.objects.update(state=Replay.COMPLETED)
    [outcome] = purge(pause_ms=0, kinds=("events",))
    assert (outcome.deleted, outcome.kept) == (3, 0)
    assert not Event.objects.exists() and not Delivery.objects.exists()


def test_a_dry_run_says_how_many_old_events_are_kept_for_replays() -> None:
    old_events([10, -1000])
    make_replay([make_consumer("c", "http://127.0.0.1:9/")], state=Replay.PENDING)
    [outcome] = purge(dry_run=True, kinds=("events",))
    assert (outcome.deleted, outcome.kept) == (1, 1)
    assert Event.objects.count() == 2
