"""Running consumers: pause and resume, "send test event", and the attempts log per consumer and per
replay, against real HTTP consumers."""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client

from dashboard.replay import engine, plan
from dashboard.replay.engine import run_replay
from dashboard.replay.models import Consumer, DeliveryAttempt, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def patch(api: Client, name: str, change: Any) -> Any:
    return api.patch(f"/api/consumers/{name}", orjson.dumps(change), content_type="application/json")


def wait_until(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.02)


def test_a_replay_to_a_paused_consumer_waits_and_goes_on_when_it_is_resumed(api: Client) -> None:
    events = [archive_event(i) for i in range(4)]
    with consumer_server() as server:
        consumer = make_consumer("c", server.url)
        assert patch(api, "c", {"paused": True}).json()["paused"] is True
        replay = make_replay([consumer])
        outcome: list[str] = []

        def run() -> None:
            try:
                outcome.append(run_replay(replay.pk))
            finally:
                connection.close()  # this thread's own connection

        runner = threading.Thread(target=run)
        runner.start()
        try:
            wait_until(lambda: Replay.objects.get(pk=replay.pk).matched == 4, "planning")
            detail = api.get(f"/api/replays/{replay.pk}").json()
            assert detail["state"] == "running" and detail["paused_consumers"] == ["c"]
            time.sleep(0.6)  # longer than a lane's look at its consumer: a paused lane still sends nothing
            assert server.count() == 0
            assert patch(api, "c", {"paused": False}).status_code == 200
            runner.join(30)
        finally:
            Consumer.objects.filter(pk=consumer.pk).update(paused=False)
            runner.join(30)
    assert outcome == [Replay.COMPLETED]
    assert server.event_ids() == [e.id for e in events]


def test_a_paused_consumer_does_not_hold_back_the_other_consumers_of_its_replay(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Planning may run only a few events ahead of the slowest lane, in small pages: a paused lane
    # that counted as "slowest" would stop the walk after a page or two.
    monkeypatch.setattr(engine, "BACKLOG", 3)
    monkeypatch.setattr(engine, "walk", functools.partial(plan.walk, page=2))
    events = [archive_event(i) for i in range(10)]
    with consumer_server() as held, consumer_server() as going:
        replay = make_replay([make_consumer("held", held.url, paused=True), make_consumer("going", going.url)])
        outcome: list[str] = []

        def run() -> None:
            try:
                outcome.append(run_replay(replay.pk))
            finally:
                connection.close()

        runner = threading.Thread(target=run)
        runner.start()
        try:
            going.wait_for(10)
            assert held.count() == 0 and Replay.objects.get(pk=replay.pk).state == Replay.RUNNING
            assert patch(api, "held", {"paused": False}).status_code == 200
            runner.join(30)
        finally:
            Consumer.objects.update(paused=False)
            runner.join(30)
    assert outcome == [Replay.COMPLETED]
    assert held.event_ids() == going.event_ids() == [e.id for e in events]


def test_a_test_event_goes_through_the_delivery_code_and_is_logged(api: Client) -> None:
    with consumer_server(lambda received, count: (503, {})) as failing, consumer_server() as server:
        make_consumer("signed", server.url, secret="s3cret", paused=True)
        answer = api.post("/api/consumers/signed/test")
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert (body["delivered"], body["status"], body["outcome"], body["replay"]) == (True, 200, "test", None)
        assert body["latency_ms"] > 0 and body["response"] == "{}"
        [got] = server.received
        assert got.body["source"] == "eventscope.test" and got.body["replay-name"] == "eventscope-test"
        assert got.headers["X-Eventscope-Signature"].startswith("sha256=")
        make_consumer("down", failing.url)
        failed = api.post("/api/consumers/down/test").json()
        assert (failed["delivered"], failed["status"], failed["error"]) == (False, 503, "HTTP 503: {}")
    logged = api.get("/api/consumers/signed/attempts").json()
    assert [a["outcome"] for a in logged["results"]] == ["test"] and logged["next_cursor"] is None


def test_a_test_event_to_a_refused_address_is_not_sent(api: Client, settings: Any) -> None:
    with consumer_server() as server:
        make_consumer("c", server.url)
        settings.EVENTSCOPE_CONSUMER_DENY = ["127.0.0.0/8"]
        answer = api.post("/api/consumers/c/test").json()
    assert answer["delivered"] is False and answer["status"] is None and "URL refused" in answer["error"]
    assert server.count() == 0


def test_every_attempt_is_logged_per_consumer_and_per_replay_and_filters_by_outcome(api: Client, settings: Any) -> None:
    settings.EVENTSCOPE_REPLAY_BACKOFF_MS = 1
    settings.EVENTSCOPE_REPLAY_MAX_ATTEMPTS = 2
    events = [archive_event(i) for i in range(3)]

    def flaky(received: Any, count: int) -> tuple[int, dict[str, str]]:
        if received.headers["X-Eventscope-Event-Id"] == events[1].id:
            return 500, {}
        return 201, {}

    with consumer_server(flaky) as server:
        consumer = make_consumer("c", server.url)
        replay = make_replay([consumer])
        assert run_replay(replay.pk) == Replay.COMPLETED
    everything = api.get("/api/consumers/c/attempts").json()["results"]
    assert len(everything) == 4  # two delivered, one retried then dead
    assert {a["replay"] for a in everything} == {replay.pk}
    assert everything[-1]["event"] == events[0].id and everything[-1]["status"] == 201  # newest first
    dead = api.get("/api/consumers/c/attempts?outcome=dead").json()["results"]
    assert [(a["event"], a["status"], a["error"]) for a in dead] == [(events[1].id, 500, "HTTP 500: {}")]
    assert [a["outcome"] for a in api.get(f"/api/replays/{replay.pk}/attempts?outcome=retry").json()["results"]] == [
        "retry"
    ]
    assert len(api.get(f"/api/replays/{replay.pk}/attempts").json()["results"]) == 4


def test_the_attempts_log_pages_by_cursor(api: Client) -> None:
    consumer = make_consumer("c", "http://127.0.0.1:9/hook")
    from django.utils import timezone

    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(consumer=consumer, number=1, at=timezone.now(), latency_ms=1.0, outcome="test")
        for _ in range(130)
    )
    first = api.get("/api/consumers/c/attempts").json()
    assert len(first["results"]) == 100 and first["next_cursor"]
    second = api.get(f"/api/consumers/c/attempts?cursor={first['next_cursor']}").json()
    assert len(second["results"]) == 30 and second["next_cursor"] is None
    ids = [a["id"] for a in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 130


@pytest.mark.parametrize(
    ("path", "status", "where"),
    [
        ("/api/consumers/nobody/attempts", 404, None),
        ("/api/consumers/c/attempts?outcome=exploded", 400, "outcome"),
        ("/api/consumers/c/attempts?cursor=abc", 400, "cursor"),
        ("/api/consumers/c/attempts?cursor=99999999999999999999999", 400, "cursor"),
        ("/api/replays/999/attempts", 404, None),
        ("/api/replays/x/attempts", 404, None),
    ],
)
def test_bad_attempt_queries_are_refused(api: Client, path: str, status: int, where: str | None) -> None:
    make_consumer("c", "http://127.0.0.1:9/hook")
    response = api.get(path)
    assert response.status_code == status, response.content
    assert response.json()["error"].get("where") == where


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("post", "/api/consumers/nobody/test", 404),
        ("get", "/api/consumers/c/test", 405),
        ("post", "/api/consumers/c/attempts", 405),
    ],
)
def test_test_and_attempts_refuse_what_they_cannot_do(api: Client, method: str, path: str, status: int) -> None:
    make_consumer("c", "http://127.0.0.1:9/hook")
    assert getattr(api, method)(path).status_code == status


def test_paused_must_be_a_boolean(api: Client) -> None:
    make_consumer("c", "http://127.0.0.1:9/hook")
    response = patch(api, "c", {"paused": "yes"})
    assert response.status_code == 400 and "'paused'" in response.json()["error"]["message"]
    assert Consumer.objects.get().paused is False


def test_the_log_needs_operate(client: Client, make_token: Any) -> None:
    make_consumer("c", "http://127.0.0.1:9/hook")
    reader = {"Authorization": f"Bearer {make_token('read').token}"}
    assert client.get("/api/consumers/c/attempts", headers=reader).status_code == 403
    assert client.post("/api/consumers/c/test", headers=reader).status_code == 403


def test_the_admin_shows_the_pause_and_each_attempts_answer(admin: Client) -> None:
    from django.utils import timezone

    from dashboard.replay.models import Delivery

    consumer = make_consumer("c", "http://127.0.0.1:9/hook", paused=True)
    replay = make_replay([consumer])
    delivery = Delivery.objects.create(
        replay=replay, consumer=consumer, event=archive_event(1), seq=0, updated_at=timezone.now()
    )
    DeliveryAttempt.objects.create(delivery=delivery, consumer=consumer, replay=replay, number=1, at=timezone.now(),
                                   status=502, latency_ms=2.0, error="HTTP 502", response="bad gateway here",
                                   outcome="retry")  # fmt: skip
    page = admin.get(f"/admin/replay/delivery/{delivery.pk}/change/")
    assert page.status_code == 200 and "bad gateway here" in page.content.decode()
    listing = admin.get("/admin/replay/consumer/").content.decode()
    assert "Paused" in listing
    assert admin.post(f"/admin/replay/consumer/{consumer.pk}/change/", {
        "name": "c", "url": "http://127.0.0.1:9/hook", "pattern": "null", "secret": "", "rate_per_second": "",
    }).status_code == 302  # fmt: skip
    assert Consumer.objects.get().paused is False  # an unticked box resumes it
