"""``/api/consumers`` and ``/api/replays``: creation, validation, dry runs, cancel and re-drive."""

from __future__ import annotations

import orjson
import pytest

from dashboard.replay.models import Consumer, Delivery, Replay
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

pytestmark = pytest.mark.django_db


def post(client, auth, url, payload):  # type: ignore[no-untyped-def]
    return client.post(url, data=orjson.dumps(payload), content_type="application/json", headers=auth)


def test_it_creates_a_consumer_and_answers_201_with_it_without_the_secret(client, auth):
    response = post(client, auth, "/api/consumers", {
        "name": "billing", "url": "http://127.0.0.1:9000/hook", "pattern": {"source": ["shop.billing"]},
        "secret": "s3cret", "rate_per_second": 25,
    })  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "billing" and body["url"] == "http://127.0.0.1:9000/hook"
    assert body["pattern"] == {"source": ["shop.billing"]} and body["rate_per_second"] == 25
    assert body["has_secret"] is True and "secret" not in body
    assert Consumer.objects.get(name="billing").secret == "s3cret"
    listed = client.get("/api/consumers", headers=auth).json()["results"]
    assert [c["name"] for c in listed] == ["billing"]


def test_a_consumer_name_is_unique(client, auth):
    payload = {"name": "dup", "url": "http://127.0.0.1:9000/"}
    assert post(client, auth, "/api/consumers", payload).status_code == 201
    response = post(client, auth, "/api/consumers", payload)
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("payload", "code", "text"),
    [
        ({"name": "x", "url": "http://127.0.0.1/", "pattern": {"source": "not-a-list"}}, "invalid_pattern", "source"),
        ({"name": "x", "url": "http://127.0.0.1/", "pattern": {}}, "invalid_pattern", "empty"),
        ({"name": "x", "url": "http://169.254.169.254/"}, "url_refused", "169.254"),
        ({"name": "x", "url": "http://[fe80::1]/"}, "url_refused", "fe80"),
        ({"name": "x", "url": "gopher://127.0.0.1/"}, "url_refused", "http"),
        ({"name": "x", "url": 7}, "invalid_request", "url"),
        ({"name": "", "url": "http://127.0.0.1/"}, "invalid_request", "name"),
        ({"name": "x", "url": "http://127.0.0.1/", "rate_per_second": -1}, "invalid_request", "rate"),
        ({"name": "x", "url": "http://127.0.0.1/", "secret": 5}, "invalid_request", "secret"),
    ],
)
def test_a_bad_consumer_is_a_400_that_says_what_is_wrong(client, auth, payload, code, text):
    response = post(client, auth, "/api/consumers", payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and text in error["message"]
    assert not Consumer.objects.exists()


def test_malformed_json_is_a_400(client, auth):
    response = client.post("/api/consumers", data=b"{nope", content_type="application/json", headers=auth)
    assert response.status_code == 400


def test_consumers_and_replays_need_the_operate_scope(client, make_token):
    reader = make_token("read,ingest")
    headers = {"Authorization": f"Bearer {reader.token}"}
    assert client.get("/api/consumers", headers=headers).status_code == 403
    assert post(client, headers, "/api/replays", {}).status_code == 403
    assert client.get("/api/replays").status_code == 401


def test_a_dry_run_answers_the_plan_and_delivers_nothing(client, auth):
    archive_event(1, detail_type="OrderCreated")
    archive_event(2, detail_type="OrderPaid")
    archive_event(3, detail_type="OrderPaid")
    archive_event(4, detail_type="OrderShipped", source="shop.shipping")
    make_consumer("all", "http://127.0.0.1:9/")
    make_consumer("paid", "http://127.0.0.1:9/", pattern={"detail-type": ["OrderPaid"]})
    response = post(client, auth, "/api/replays", {
        "name": "plan", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z",
        "pattern": {"source": ["shop.orders"]}, "consumers": ["all", "paid"], "dry_run": True,
    })  # fmt: skip
    assert response.status_code == 200
    plan = response.json()
    assert plan["dry_run"] is True and plan["complete"] is True
    assert plan["matched"] == 3 and plan["deliveries"] == 5 and plan["skipped"] == 1
    assert plan["by_detail_type"] == {"OrderPaid": 2, "OrderCreated": 1}
    assert plan["by_consumer"] == {"all": 3, "paid": 2}
    assert [e["detail-type"] for e in plan["first_events"]] == ["OrderCreated", "OrderPaid", "OrderPaid"]
    assert not Replay.objects.exists() and not Delivery.objects.exists()


def test_a_replay_is_answered_202_pending(client, auth):
    make_consumer("c", "http://127.0.0.1:9/")
    response = post(client, auth, "/api/replays", {
        "name": "go", "since": "2026-01-01T00:00:00Z", "consumers": ["c"], "rate_per_second": 10,
    })  # fmt: skip
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "pending" and body["name"] == "go" and body["consumers"] == ["c"]
    assert body["rate_per_second"] == 10 and body["until"] is not None
    for field in ("matched", "delivered", "failed", "skipped"):
        assert body[field] == 0
    assert body["last_replayed_time"] is None and body["started_at"] is None and body["finished_at"] is None
    again = client.get(f"/api/replays/{body['id']}", headers=auth)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert client.get("/api/replays", headers=auth).json()["results"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ({"since": "2026-01-01T00:00:00Z", "consumers": ["c"]}, "name"),
        ({"name": "r", "consumers": ["c"]}, "since"),
        ({"name": "r", "since": "yesterday", "consumers": ["c"]}, "since"),
        ({"name": "r", "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z", "consumers": ["c"]}, "until"),
        ({"name": "r", "since": "2026-01-01T00:00:00Z", "consumers": []}, "consumers"),
        ({"name": "r", "since": "2026-01-01T00:00:00Z", "consumers": ["ghost"]}, "ghost"),
        ({"name": "r", "since": "2026-01-01T00:00:00Z", "consumers": ["c"], "pattern": {"a": 1}}, "pattern"),
        ({"name": "r", "since": "2026-01-01T00:00:00Z", "consumers": ["c"], "dry_run": "yes"}, "dry_run"),
        ({"name": "r", "since": "2026-01-01T00:00:00Z", "consumers": ["c"], "rate_per_second": "fast"}, "rate"),
        ([1, 2], "object"),
    ],
)
def test_a_bad_replay_is_a_400_that_says_what_is_wrong(client, auth, payload, text):
    make_consumer("c", "http://127.0.0.1:9/")
    response = post(client, auth, "/api/replays", payload)
    assert response.status_code == 400
    assert text in response.json()["error"]["message"]
    assert not Replay.objects.exists()


def test_an_unknown_replay_is_a_404(client, auth):
    assert client.get("/api/replays/999", headers=auth).status_code == 404
    assert client.get("/api/replays/abc", headers=auth).status_code == 404
    assert post(client, auth, "/api/replays/999/cancel", {}).status_code == 404


def test_cancel_stops_a_pending_replay_and_a_finished_one_is_a_409(client, auth):
    replay = make_replay([make_consumer("c", "http://127.0.0.1:9/")])
    response = post(client, auth, f"/api/replays/{replay.pk}/cancel", {})
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled" and response.json()["finished_at"]
    # Cancelling twice is harmless; a completed replay cannot be cancelled.
    assert post(client, auth, f"/api/replays/{replay.pk}/cancel", {}).status_code == 200
    Replay.objects.filter(pk=replay.pk).update(state=Replay.COMPLETED)
    assert post(client, auth, f"/api/replays/{replay.pk}/cancel", {}).status_code == 409


def test_deliveries_list_the_dead_letters_with_their_attempts(client, auth):
    event = archive_event(1)
    replay = make_replay([make_consumer("c", "http://127.0.0.1:9/")], state=Replay.COMPLETED)
    from django.utils import timezone

    from dashboard.replay.models import DeliveryAttempt

    delivery = Delivery.objects.create(
        replay=replay, event=event, consumer=replay.consumers.get(), seq=0, state=Delivery.DEAD, attempts=1,
        last_status=500, last_error="HTTP 500", updated_at=timezone.now(),
    )  # fmt: skip
    DeliveryAttempt.objects.create(
        delivery=delivery, number=1, at=timezone.now(), status=500, latency_ms=3.5, error="HTTP 500", outcome="dead"
    )
    response = client.get(f"/api/replays/{replay.pk}/deliveries?state=dead", headers=auth)
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["event"] == event.id and row["consumer"] == "c" and row["state"] == "dead"
    assert row["attempt_log"] == [
        {"number": 1, "at": row["attempt_log"][0]["at"], "status": 500, "latency_ms": 3.5, "error": "HTTP 500",
         "outcome": "dead"}
    ]  # fmt: skip
    assert client.get(f"/api/replays/{replay.pk}/deliveries?state=nope", headers=auth).status_code == 400
    # Re-drive: the dead letter is pending again and the finished replay is pending to run again.
    answer = post(client, auth, f"/api/replays/{replay.pk}/redrive", {"ids": [delivery.pk]}).json()
    assert answer["redriven"] == 1 and answer["replay"]["state"] == "pending"
    delivery.refresh_from_db()
    assert delivery.state == Delivery.PENDING and delivery.drive_attempts == 0
    assert post(client, auth, f"/api/replays/{replay.pk}/redrive", {"ids": "all"}).status_code == 400
