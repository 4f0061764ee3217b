"""``/api/consumers/<name>``: read, change (the URL checked again) and delete a replay consumer."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import Client
from django.utils import timezone

from dashboard.replay.models import Consumer, Delivery, Replay
from tests.replay.test_replay_end_to_end import call, ingest, poll_replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay
from tests.support.task_worker import scaled_mode_worker  # noqa: F401  (a fixture)

HOOK = "http://127.0.0.1:9000/hook"


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def patch(api: Client, name: str, change: Any) -> Any:
    return api.patch(f"/api/consumers/{name}", orjson.dumps(change), content_type="application/json")


@pytest.mark.django_db
def test_a_consumer_is_read_and_changed_field_by_field(api: Client) -> None:
    make_consumer("billing", HOOK, secret="s3cret", rate_per_second=5, pattern={"source": ["shop"]})
    read = api.get("/api/consumers/billing")
    assert read.status_code == 200
    assert (read.json()["url"], read.json()["has_secret"]) == (HOOK, True)
    changed = patch(api, "billing", {"url": "http://127.0.0.1:9001/v2", "rate_per_second": None, "pattern": None})
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["url"], body["rate_per_second"], body["pattern"]) == ("http://127.0.0.1:9001/v2", None, None)
    assert "secret" not in body and body["has_secret"] is True  # untouched, and never shown
    assert patch(api, "billing", {"secret": None}).json()["has_secret"] is False
    assert patch(api, "billing", {"name": "billing-v2"}).status_code == 200
    assert api.get("/api/consumers/billing").status_code == 404
    assert Consumer.objects.get().name == "billing-v2"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data/"}, 400, "url_refused"),
        ({"url": "http://[fe80::1]/"}, 400, "url_refused"),
        ({"pattern": {"source": "shop"}}, 400, "invalid_pattern"),
        ({"rate_per_second": 0}, 400, "invalid_request"),
        ({"colour": "blue"}, 400, "invalid_request"),
        ({"name": "other"}, 409, "conflict"),
        (["url"], 400, "invalid_request"),
    ],
)
def test_a_bad_change_is_refused_and_nothing_changes(api: Client, change: Any, status: int, code: str) -> None:
    make_consumer("billing", HOOK)
    make_consumer("other", HOOK)
    response = patch(api, "billing", change)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert Consumer.objects.get(name="billing").url == HOOK


@pytest.mark.django_db
def test_a_consumer_is_deleted_unless_a_replay_delivers_to_it_now(api: Client) -> None:
    consumer = make_consumer("billing", HOOK)
    replay = make_replay([consumer])  # pending
    refused = api.delete("/api/consumers/billing")
    assert refused.status_code == 409
    assert "cancel them first" in refused.json()["error"]["message"]
    Replay.objects.filter(pk=replay.pk).update(state=Replay.COMPLETED)
    Delivery.objects.create(replay=replay, consumer=consumer, event=archive_event(1), seq=1, updated_at=timezone.now())
    assert api.delete("/api/consumers/billing").status_code == 204
    assert not Consumer.objects.exists() and not Delivery.objects.exists()
    assert Replay.objects.get().state == Replay.COMPLETED  # its counters and history stay
    assert api.delete("/api/consumers/billing").status_code == 404


@pytest.mark.django_db
def test_changing_needs_operate(client: Client, make_token: Any) -> None:
    make_consumer("billing", HOOK)
    reader = {"Authorization": f"Bearer {make_token('read').token}"}
    assert client.get("/api/consumers/billing", headers=reader).status_code == 403
    body = orjson.dumps({"url": "http://127.0.0.1:1/"})
    assert client.patch("/api/consumers/billing", body, content_type="application/json").status_code == 401
    assert client.delete("/api/consumers/billing", headers=reader).status_code == 403
    assert Consumer.objects.get().url == HOOK


@pytest.mark.usefixtures("transactional_db", "scaled_mode_worker")
def test_a_moved_consumer_gets_the_next_replay_at_its_new_address(live_server_url: str, token: Any) -> None:
    ingest(live_server_url, token.token, 3)
    with consumer_server() as old, consumer_server() as new:
        assert call(live_server_url, token.token, "POST", "/api/consumers",
                    {"name": "orders", "url": old.url}).status_code == 201  # fmt: skip
        moved = call(live_server_url, token.token, "PATCH", "/api/consumers/orders", {"url": new.url})
        assert moved.status_code == 200, moved.text
        created = call(live_server_url, token.token, "POST", "/api/replays", {
            "name": "after-move", "since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z",
            "consumers": ["orders"],
        })  # fmt: skip
        assert created.status_code == 202, created.text
        poll_replay(live_server_url, token.token, created.json()["id"], lambda r: r["state"] == "completed")
        assert (old.count(), new.count()) == (0, 3)
