"""Ingest tells whoever registered: per-event preparation, in-transaction hooks and after-commit hooks.

Each test registers a test-only observer for one batch kind (``EVENTS``, ``SPANS``, ``LOGS``) for
its own duration, and uses ``transactional_db`` so that commits really happen (after-commit hooks
run at the real commit, not at the end of a test's wrapping transaction).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory

from config.fastpath import _run_view
from dashboard.events.envelope import NormalizedEvent
from dashboard.events.models import Event
from dashboard.ingest.native import ingest_events
from dashboard.ingest.observers import EVENTS, BatchHooks, EventHooks, StoredEvents
from tracing.models import LogRecord, Span
from tracing.store import LOGS, SPANS, StoredLogs, StoredSpans

pytestmark = pytest.mark.django_db(transaction=True)


def event(event_id: str, **overrides: object) -> dict[str, object]:
    return {"id": event_id, "source": "shop.orders", "detail-type": "OrderCreated", "detail": {"n": 1}, **overrides}


def post(client: Client, auth: dict[str, str], path: str, payload: object) -> Any:
    return client.post(path, data=orjson.dumps(payload), content_type="application/json", headers=auth)


@dataclass
class Recorder:
    """A test observer: what it was told, and what the database and transaction looked like then."""

    fail_with: BaseException | None = None
    column: str = "lifecycle_matches"  # "" for one that prepares nothing
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def phases(self) -> list[str]:
        return [phase for phase, _ in self.calls]

    def events_hooks(self) -> EventHooks:
        return EventHooks(
            column=self.column,
            prepare=self.prepare if self.column else None,
            in_transaction=self.in_tx,
            after_commit=self.after,
        )

    def prepare(self, stored_id: str, entry: NormalizedEvent) -> str:
        self.calls.append(("prepare", (stored_id, entry.event_id, connection.in_atomic_block)))
        return "[]" if entry.event_id != "nul" else '["\\u0000"]'

    def in_tx(self, batch: Any) -> None:
        self.calls.append(("in_transaction", (batch, connection.in_atomic_block, self._stored())))
        if self.fail_with is not None:
            raise self.fail_with

    def after(self, batch: Any) -> None:
        self.calls.append(("after_commit", (batch, connection.in_atomic_block, self._stored())))

    def batch_hooks(self) -> BatchHooks[Any]:
        return BatchHooks(in_transaction=self.in_tx, after_commit=self.after)

    @staticmethod
    def _stored() -> tuple[int, int, int]:
        return Event.objects.count(), Span.objects.count(), LogRecord.objects.count()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    with EVENTS.observing(rec.events_hooks):
        yield rec


def test_observers_hear_of_each_request_once_with_the_events_it_stored_just_now(client, auth, recorder):
    assert post(client, auth, "/api/events", event("b")).status_code == 200
    recorder.calls.clear()

    body = post(client, auth, "/api/events", [event("a"), {"source": "x"}, event("b"), event("a")]).json()

    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "duplicate", "duplicate"]
    # Prepared before the write transaction, once per event about to be written (not the refused
    # one, not the second "a"): "b" is written too, and found a duplicate of the stored one inside.
    assert recorder.phases() == ["prepare", "prepare", "in_transaction", "after_commit"]
    assert [args[1] for phase, args in recorder.calls if phase == "prepare"] == ["a", "b"]
    assert all(not args[2] for phase, args in recorder.calls if phase == "prepare")
    (_, (in_batch, in_atomic, seen_inside)), (_, (after_batch, after_atomic, seen_after)) = recorder.calls[2:]
    # Inside: in the transaction, the rows already there; after: committed, outside any transaction.
    assert in_atomic and seen_inside[0] == 2
    assert not after_atomic and seen_after[0] == 2
    for batch in (in_batch, after_batch):
        assert isinstance(batch, StoredEvents)
        assert [(stored_id, entry.event_id) for stored_id, entry in batch.events] == [(body["results"][0]["id"], "a")]
    # The prepared value is stored in the column the observer declared, in the event's own row.
    assert Event.objects.get(id=body["results"][0]["id"]).lifecycle_matches == "[]"


def test_a_prepared_value_holding_nul_refuses_its_event_and_keeps_the_others(client, auth, recorder):
    body = post(client, auth, "/api/events", [event("nul"), event("fine")]).json()
    assert [r["status"] for r in body["results"]] == ["rejected", "accepted"]
    assert "U+0000" in body["results"][0]["error"]
    (after_batch, _, _) = recorder.calls[-1][1]
    assert [entry.event_id for _, entry in after_batch.events] == ["fine"]
    assert list(Event.objects.values_list("event_id", flat=True)) == ["fine"]


def test_a_batch_with_nothing_to_write_runs_no_hook(client, auth, recorder):
    body = post(client, auth, "/api/events", [{"source": "x"}]).json()
    assert body["rejected"] == 1
    assert recorder.phases() == []


def test_database_trouble_in_an_in_transaction_observer_rolls_the_batch_back_and_answers_503(client, auth):
    failing = Recorder(fail_with=OperationalError("deadlock detected"))
    listening = Recorder(column="")
    with EVENTS.observing(failing.events_hooks), EVENTS.observing(listening.events_hooks):
        response = post(client, auth, "/api/events", [event("a"), event("b")])
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "unavailable"
    assert Event.objects.count() == 0
    # Nobody heard of a batch that was not stored.
    assert "after_commit" not in failing.phases() + listening.phases()


def test_the_fast_path_answers_database_trouble_in_an_observer_with_503_too(token):
    failing = Recorder(fail_with=OperationalError("could not serialize access"))
    request = RequestFactory().post(
        "/api/events",
        data=orjson.dumps(event("a")),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token.token}"},
    )
    with EVENTS.observing(failing.events_hooks):
        response = _run_view(ingest_events, request)
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert Event.objects.count() == 0
    assert failing.phases() == ["prepare", "in_transaction"]


def test_a_bug_in_an_in_transaction_observer_stores_nothing_and_is_answered_as_the_server_error_it_is(token):
    # Not database trouble, so not "retry shortly": the server's failure, logged, with the JSON
    # error body every API path answers (as before observers existed).
    failing = Recorder(fail_with=RuntimeError("observer bug"))
    request = RequestFactory().post(
        "/api/events",
        data=orjson.dumps(event("a")),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token.token}"},
    )
    with EVENTS.observing(failing.events_hooks):
        fast = _run_view(ingest_events, request)
        django = Client(raise_request_exception=False).post(
            "/api/events",
            data=orjson.dumps(event("b")),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token.token}"},
        )
    for response in (fast, django):
        assert response.status_code == 500
        assert orjson.loads(response.content)["error"]["code"] == "internal_error"
    assert Event.objects.count() == 0
    assert "after_commit" not in failing.phases()


def test_a_failing_after_commit_observer_does_not_undo_or_fail_the_ingest(client, auth, caplog):
    def broken(_: StoredEvents) -> None:
        raise RuntimeError("publisher bug")

    listening = Recorder(column="")
    with (
        EVENTS.observing(lambda: EventHooks(after_commit=broken)),
        EVENTS.observing(listening.events_hooks),
    ):
        response = post(client, auth, "/api/events", event("a"))
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert Event.objects.count() == 1
    assert listening.phases()[-1] == "after_commit"  # the others still ran
    assert "publisher bug" in caplog.text


def test_an_observer_can_sit_a_batch_out(client, auth):
    asked: list[int] = []

    def starter() -> EventHooks | None:
        asked.append(1)
        return None

    with EVENTS.observing(starter):
        post(client, auth, "/api/events", [event("a"), event("b")])
    assert asked == [1]  # once per batch, not per event


def _spans_body(*span_ids: str) -> dict[str, object]:
    spans = [
        {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": span_id,
            "name": "reserve",
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000500000000",
        }
        for span_id in span_ids
    ]
    return {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}


def test_span_observers_hear_of_each_otlp_request_once_after_its_commit(client, auth):
    recorder = Recorder()
    with SPANS.observing(recorder.batch_hooks):
        response = post(client, auth, "/v1/traces", _spans_body("eee19b7ec3c1b174", "eee19b7ec3c1b175"))
    assert response.status_code == 200
    assert recorder.phases() == ["in_transaction", "after_commit"]
    (in_batch, in_atomic, seen_inside), (after_batch, after_atomic, seen_after) = (args for _, args in recorder.calls)
    assert in_atomic and seen_inside[1] == 2 and not after_atomic and seen_after[1] == 2
    assert isinstance(after_batch, StoredSpans) and after_batch is in_batch
    assert [span.span_id for span in after_batch.spans] == ["eee19b7ec3c1b174", "eee19b7ec3c1b175"]


def test_database_trouble_in_a_span_observer_stores_no_span(client, auth):
    recorder = Recorder(fail_with=OperationalError("deadlock detected"))
    with SPANS.observing(recorder.batch_hooks):
        response = post(client, auth, "/v1/traces", _spans_body("eee19b7ec3c1b174"))
    assert response.status_code == 503
    assert Span.objects.count() == 0


def _logs_body() -> dict[str, object]:
    def record(body: str, event_name: str = "") -> dict[str, object]:
        out: dict[str, object] = {"timeUnixNano": "1700000000000000000", "body": {"stringValue": body}}
        if event_name:
            out["eventName"] = event_name
        return out

    records = [record("label printed"), record("shipped", "OrderShipped")]
    service = {"key": "service.name", "value": {"stringValue": "shipping"}}
    return {"resourceLogs": [{"resource": {"attributes": [service]}, "scopeLogs": [{"logRecords": records}]}]}


def test_a_logs_request_tells_log_observers_and_event_observers_after_the_one_commit(client, auth, recorder):
    logs = Recorder()
    with LOGS.observing(logs.batch_hooks):
        response = post(client, auth, "/v1/logs", _logs_body())
    assert response.status_code == 200
    assert logs.phases() == ["in_transaction", "after_commit"]
    log_batch, _, _ = logs.calls[-1][1]
    assert isinstance(log_batch, StoredLogs) and [r.body for r in log_batch.records] == ["label printed"]
    # The event record is stored in the logs' transaction; its observers hear of it after that commit.
    assert recorder.phases() == ["prepare", "in_transaction", "after_commit"]
    event_batch, after_atomic, seen_after = recorder.calls[-1][1]
    assert [entry.detail_type for _, entry in event_batch.events] == ["OrderShipped"]
    assert not after_atomic and seen_after == (1, 0, 1)


def test_registering_a_starter_twice_registers_it_once() -> None:
    def starter() -> None:
        return None

    with EVENTS.observing(starter):
        EVENTS.register(starter)
        assert EVENTS._starters.count(starter) == 1
    assert starter not in EVENTS._starters


def test_two_observers_cannot_fill_one_column(client, auth, recorder):
    other = Recorder()
    with EVENTS.observing(other.events_hooks), pytest.raises(ValueError, match="same column"):
        post(client, auth, "/api/events", event("a"))
    assert Event.objects.count() == 0


def test_a_prepare_hook_comes_with_its_column() -> None:
    with pytest.raises(ValueError):
        EventHooks(prepare=lambda stored_id, entry: None)
    with pytest.raises(ValueError):
        EventHooks(column="lifecycle_matches")
