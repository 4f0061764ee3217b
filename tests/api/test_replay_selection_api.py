"""``POST /api/replays`` with a selection instead of a time range: what it answers, and what it refuses."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from dashboard.events.models import Event
from dashboard.lifecycles.models import Lifecycle
from dashboard.replay.models import Delivery, Replay
from dashboard.replay.selection import MAX_EVENT_IDS
from tests.support.replay_helpers import archive_event, make_consumer

pytestmark = pytest.mark.django_db
TRACE = "0af7651916cd43dd8448eb211c80319c"


def post(client: Any, auth: dict[str, str], payload: dict[str, Any]) -> Any:
    body = {"name": "found", "consumers": ["c"], **payload}
    return client.post("/api/replays", data=orjson.dumps(body), content_type="application/json", headers=auth)


@pytest.fixture(autouse=True)
def consumer() -> None:
    make_consumer("c", "http://127.0.0.1:9/hook")


def test_a_selection_replay_is_planned_when_created(client, auth):
    events = [archive_event(i, key="k-1") for i in range(3)]
    response = post(client, auth, {"idempotency_key": "k-1"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["selection"] == {"kind": "idempotency_key", "idempotency_key": "k-1", "events": 3}
    assert (body["total"], body["planning_done"]) == (3, True)
    assert body["since"] == "2026-01-01T00:00:00Z"
    seqs = Delivery.objects.filter(replay_id=body["id"]).order_by("seq").values_list("event_id", flat=True)
    assert list(seqs) == [e.id for e in events]


def test_a_dry_run_of_a_selection_needs_no_consumer_and_delivers_nothing(client, auth):
    archive_event(1, key="k-1")
    Event.objects.update(trace_id=TRACE)
    response = post(client, auth, {"trace_id": TRACE, "consumers": [], "dry_run": True})
    assert response.status_code == 200, response.content
    plan = response.json()
    assert plan["matched"] == 1 and plan["deliveries"] == 0 and len(plan["first_events"]) == 1
    assert plan["selection"]["kind"] == "trace_id"
    assert not Replay.objects.exists()
    started = post(client, auth, {"trace_id": TRACE, "consumers": []})
    assert started.status_code == 400 and "consumers" in started.json()["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ({}, 400, "Say what to replay"),
        ({"since": "2026-01-01T00:00:00Z", "idempotency_key": "k-1"}, 400, "not several"),
        ({"trace_id": TRACE, "event_ids": ["x"]}, 400, "not several"),
        ({"until": "2026-01-02T00:00:00Z"}, 400, "'since' is required"),
        ({"event_ids": []}, 400, "non-empty list"),
        ({"event_ids": "01ABC"}, 400, "non-empty list"),
        (
            {"event_ids": ["01KB0000000000000000000000", "nope"]},
            400,
            "Unknown event id(s): '01KB0000000000000000000000', 'nope'",
        ),
        ({"event_ids": ["x"] * (MAX_EVENT_IDS + 1)}, 400, "more than"),
        ({"idempotency_key": ""}, 400, "idempotency_key"),
        ({"idempotency_key": 5}, 400, "idempotency_key"),
        ({"idempotency_key": "nobody"}, 404, "No events with idempotency key"),
        ({"trace_id": "xyz"}, 400, "32 hex"),
        ({"trace_id": "1" * 32}, 404, "No events in trace"),
        ({"transaction": "orders/A"}, 400, "lifecycle"),
        ({"transaction": {"lifecycle": "orders"}}, 400, "lifecycle"),
        ({"transaction": {"lifecycle": "nope", "key": "A"}}, 404, "No lifecycle named 'nope'"),
        ({"transaction": {"lifecycle": "orders", "key": "Z"}}, 404, "No transaction 'Z'"),
    ],
)
def test_a_bad_selection_is_refused_with_the_reason(client, auth, payload, status, text):
    archive_event(1, key="k-1")
    Lifecycle.objects.create(name="orders", key="detail.order", steps=["OrderCreated"], timeout_seconds=60)
    response = post(client, auth, payload)
    assert response.status_code == status, response.content
    assert text in response.json()["error"]["message"]
    assert not Replay.objects.exists()
