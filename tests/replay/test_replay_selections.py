"""Replaying what a person found: stored ids, one key, one trace, one transaction. Each delivers
exactly those events, in time order, and a resumed run delivers nothing else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dashboard.events.envelope import NormalizedEvent
from dashboard.events.models import Event
from dashboard.ingest.store import store_events
from dashboard.lifecycles.definitions import create_lifecycle
from dashboard.replay.actions import check_replay, do_create_replay, plan_replay
from dashboard.replay.engine import run_replay
from dashboard.replay.models import Delivery, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer

pytestmark = pytest.mark.usefixtures("transactional_db")
TRACE = "4bf92f3577b34da6a736ce4e1cc0a1b2"


def replay_of(selection: dict[str, Any], consumers: list[str], **more: Any) -> Replay:
    return do_create_replay(check_replay({"name": "found", "consumers": consumers, **selection, **more}))


def test_a_list_of_ids_delivers_exactly_those_in_time_order():
    events = [archive_event(i) for i in range(8)]
    chosen = [events[5].id, events[1].id, events[6].id, events[1].id]  # out of order, one twice
    with consumer_server() as server:
        make_consumer("c", server.url)
        replay = replay_of({"event_ids": chosen}, ["c"])
        assert replay.selection == {"kind": "event_ids", "events": 3}
        assert (replay.matched, replay.total, replay.walk_done) == (3, 3, True)
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert server.event_ids() == [events[1].id, events[5].id, events[6].id]


def test_one_key_delivers_that_keys_events_and_nothing_stored_later():
    events = [archive_event(i, key="order-7" if i % 2 else "order-8") for i in range(6)]
    with consumer_server() as server:
        make_consumer("c", server.url)
        replay = replay_of({"idempotency_key": "order-7"}, ["c"])
        late = archive_event(3.5, key="order-7")  # stored after the replay was made: not part of it
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert server.event_ids() == [events[1].id, events[3].id, events[5].id]
    assert late.id not in server.event_ids()


def test_one_trace_is_chosen_by_w3c_or_x_ray_id():
    inside = [archive_event(i) for i in range(3)]
    outside = archive_event(1.5)
    Event.objects.filter(pk__in=[e.id for e in inside]).update(trace_id=TRACE)
    with consumer_server() as server:
        make_consumer("c", server.url)
        xray = f"1-{TRACE[:8]}-{TRACE[8:]}".upper()
        plan = plan_replay(check_replay({"name": "p", "consumers": ["c"], "trace_id": xray, "dry_run": True}))
        assert plan["matched"] == 3 and plan["selection"]["trace_id"] == TRACE
        replay = replay_of({"trace_id": TRACE.upper()}, ["c"])
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert server.event_ids() == [e.id for e in inside]
    assert outside.id not in server.event_ids()


def test_one_transaction_delivers_its_steps_and_updates_only():
    create_lifecycle({"name": "orders", "key": "detail.order", "steps": ["OrderCreated", "OrderPaid"],
                      "timeout_seconds": 3600})  # fmt: skip
    now = timezone.now()
    entries = [("OrderCreated", "A"), ("OrderCreated", "B"), ("OrderPaid", "A"), ("OrderPaid", "a")]
    results = store_events([
        NormalizedEvent(event_id=f"e-{i}", source="shop", detail_type=kind, time=now + timedelta(seconds=i),
                        detail={"order": order}, format="native", raw="{}")
        for i, (kind, order) in enumerate(entries)
    ], now)  # fmt: skip
    ids = [result.id for result in results]
    with consumer_server() as server:
        make_consumer("c", server.url)
        replay = replay_of({"transaction": {"lifecycle": "orders", "key": "A"}}, ["c"])
        assert replay.selection == {"kind": "transaction", "lifecycle": "orders", "key": "A", "events": 2}
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert server.event_ids() == [ids[0], ids[2]]


def test_a_consumer_pattern_still_narrows_a_selection_and_the_plan_lists_only_what_is_delivered():
    paid = archive_event(2, detail_type="OrderPaid", key="k")
    created = archive_event(1, detail_type="OrderCreated", key="k")
    with consumer_server() as server:
        make_consumer("paid-only", server.url, pattern={"detail-type": ["OrderPaid"]})
        plan = plan_replay(check_replay({"name": "p", "consumers": ["paid-only"], "idempotency_key": "k",
                                         "dry_run": True}))  # fmt: skip
        assert (plan["matched"], plan["deliveries"], plan["skipped"]) == (2, 1, 1)
        assert [e["id"] for e in plan["first_events"]] == [paid.id]
        everything = plan_replay(check_replay({"name": "p", "consumers": [], "idempotency_key": "k", "dry_run": True}))
        assert [e["id"] for e in everything["first_events"]] == [created.id, paid.id]
        replay = replay_of({"idempotency_key": "k"}, ["paid-only"])
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert server.event_ids() == [paid.id]


def test_a_selection_replay_resumed_after_its_run_died_sends_only_what_was_left():
    events = [archive_event(i, key="k") for i in range(5)]
    with consumer_server() as server:
        make_consumer("c", server.url)
        replay = replay_of({"idempotency_key": "k"}, ["c"])
        now = timezone.now()
        # A run that died: the first two delivered, the third in flight when it stopped.
        rows = list(Delivery.objects.filter(replay=replay).order_by("seq"))
        for row, state in zip(rows, [Delivery.DELIVERED, Delivery.DELIVERED, Delivery.SENDING], strict=False):
            Delivery.objects.filter(pk=row.pk).update(state=state, claim="dead" if state == Delivery.SENDING else "")
        Replay.objects.filter(pk=replay.pk).update(
            state=Replay.RUNNING, lease_owner="dead", lease_expires_at=now - timedelta(seconds=1), started_at=now
        )
        archive_event(9, key="k")  # arrived since: not part of the selection
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert server.event_ids() == [events[3].id, events[4].id]
    replay.refresh_from_db()
    assert (replay.matched, replay.delivered, replay.failed) == (5, 4, 1)
