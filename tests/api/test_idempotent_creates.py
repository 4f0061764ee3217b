"""``Idempotency-Key`` on ``POST /api/consumers``, ``/api/replays`` and ``/api/lifecycles``: a retried
create answers the first result and creates nothing more; the key reused for another body is
refused; a failed request does not pin its key; keys belong to one caller and one endpoint, expire
and are purged; concurrent duplicates create one object."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import orjson
import pytest
import requests
from django.utils import timezone

from dashboard.api.idempotency import KEY_LIFETIME
from dashboard.core.models import IdempotencyRecord
from dashboard.lifecycles.models import Lifecycle
from dashboard.replay.models import Consumer, Replay
from tests.support.replay_helpers import make_consumer

CONSUMER = {"name": "billing", "url": "http://127.0.0.1:9000/hook", "pattern": {"source": ["shop.billing"]}}
LIFECYCLE = {"name": "order", "key": "detail.order-id", "steps": ["OrderCreated", "OrderPaid"], "timeout_seconds": 60}
REPLAY = {"name": "fix", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "consumers": ["c"]}


def post(client: Any, headers: dict[str, str], url: str, body: Any, key: str | None = None) -> Any:
    extra = {"Idempotency-Key": key} if key is not None else {}
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(url, data=data, content_type="application/json", headers={**headers, **extra})


def assert_replayed(first: Any, again: Any) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers.get("Location") == first.headers.get("Location")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


@pytest.mark.django_db
def test_a_retried_consumer_create_answers_the_first_result_and_creates_one(client, auth):
    first = post(client, auth, "/api/consumers", CONSUMER, key="k-1")
    assert first.status_code == 201, first.content
    again = post(client, auth, "/api/consumers", CONSUMER, key="k-1")
    assert_replayed(first, again)
    assert Consumer.objects.count() == 1
    # Without a key a second create is a second request, as before: the name is taken.
    assert post(client, auth, "/api/consumers", CONSUMER).status_code == 409


@pytest.mark.django_db
def test_a_retried_lifecycle_create_answers_the_first_result_and_creates_one(client, auth):
    first = post(client, auth, "/api/lifecycles", LIFECYCLE, key="k-1")
    assert first.status_code == 201, first.content
    assert_replayed(first, post(client, auth, "/api/lifecycles", LIFECYCLE, key="k-1"))
    assert Lifecycle.objects.count() == 1


@pytest.mark.django_db
def test_a_retried_replay_create_answers_the_first_result_and_creates_one(client, auth):
    make_consumer("c", "http://127.0.0.1:9/")
    first = post(client, auth, "/api/replays", REPLAY, key="k-1")
    assert first.status_code == 202, first.content
    assert first.headers["Location"] == f"/api/replays/{first.json()['id']}"
    assert_replayed(first, post(client, auth, "/api/replays", REPLAY, key="k-1"))
    assert Replay.objects.count() == 1
    # Another key is another replay.
    assert post(client, auth, "/api/replays", REPLAY, key="k-2").json()["id"] != first.json()["id"]
    assert Replay.objects.count() == 2


@pytest.mark.django_db
def test_the_same_body_written_differently_is_the_same_request(client, auth):
    first = post(client, auth, "/api/consumers", b'{"name": "billing", "url": "http://127.0.0.1:9000/hook"}', key="k")
    assert first.status_code == 201
    again = post(client, auth, "/api/consumers", b'{"url":"http://127.0.0.1:9000/hook","name":"billing"}', key="k")
    assert_replayed(first, again)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "body", "changed"),
    [
        ("/api/consumers", CONSUMER, {**CONSUMER, "name": "billing-2"}),
        ("/api/lifecycles", LIFECYCLE, {**LIFECYCLE, "timeout_seconds": 61}),
        ("/api/replays", REPLAY, {**REPLAY, "name": "fix-2"}),
    ],
)
def test_the_same_key_with_another_body_is_refused_with_422(client, auth, url, body, changed):
    make_consumer("c", "http://127.0.0.1:9/")
    first = post(client, auth, url, body, key="k-1")
    assert 200 <= first.status_code < 300
    counts = (Consumer.objects.count(), Lifecycle.objects.count(), Replay.objects.count())
    refused = post(client, auth, url, changed, key="k-1")
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in error["message"] and f"POST {url}" in error["message"]
    assert (Consumer.objects.count(), Lifecycle.objects.count(), Replay.objects.count()) == counts
    # The first result is still what the key answers.
    assert_replayed(first, post(client, auth, url, body, key="k-1"))


@pytest.mark.django_db
def test_a_failed_request_does_not_pin_its_key(client, auth):
    invalid = post(client, auth, "/api/consumers", {**CONSUMER, "url": "http://169.254.169.254/"}, key="k-1")
    assert invalid.status_code == 400
    malformed = post(client, auth, "/api/consumers", b"{nope", key="k-1")
    assert malformed.status_code == 400
    make_consumer("billing", "http://127.0.0.1:9/")
    taken = post(client, auth, "/api/consumers", CONSUMER, key="k-1")
    assert taken.status_code == 409
    assert not IdempotencyRecord.objects.exists()
    Consumer.objects.all().delete()
    # The corrected retry, same key, is carried out and kept.
    created = post(client, auth, "/api/consumers", CONSUMER, key="k-1")
    assert created.status_code == 201
    assert_replayed(created, post(client, auth, "/api/consumers", CONSUMER, key="k-1"))


@pytest.mark.django_db
def test_a_key_belongs_to_one_caller_and_one_endpoint(client, auth, make_token, ops):
    make_consumer("c", "http://127.0.0.1:9/")
    other = {"Authorization": f"Bearer {make_token('operate', name='other').token}"}
    mine = post(client, auth, "/api/replays", REPLAY, key="shared").json()["id"]
    theirs = post(client, other, "/api/replays", REPLAY, key="shared").json()["id"]
    browser = post(ops, {}, "/api/replays", REPLAY, key="shared")
    assert browser.status_code == 202 and "Idempotent-Replayed" not in browser.headers
    assert len({mine, theirs, browser.json()["id"]}) == 3
    assert_replayed(browser, post(ops, {}, "/api/replays", REPLAY, key="shared"))
    # The same key on another endpoint is another key.
    assert post(client, auth, "/api/lifecycles", LIFECYCLE, key="shared").status_code == 201
    assert Replay.objects.count() == 3 and Lifecycle.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "clé", "a\tb"])
def test_a_malformed_key_is_a_400_and_creates_nothing(client, auth, key):
    response = post(client, auth, "/api/consumers", CONSUMER, key=key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Consumer.objects.exists()


@pytest.mark.django_db
def test_the_longest_key_is_accepted(client, auth):
    key = "k" * 255
    first = post(client, auth, "/api/consumers", CONSUMER, key=key)
    assert first.status_code == 201
    assert_replayed(first, post(client, auth, "/api/consumers", CONSUMER, key=key))


@pytest.mark.django_db
def test_a_key_is_forgotten_after_its_lifetime_and_expired_keys_are_purged(client, auth):
    first = post(client, auth, "/api/lifecycles", LIFECYCLE, key="old")
    assert first.status_code == 201
    long_ago = timezone.now() - KEY_LIFETIME - timedelta(minutes=1)
    IdempotencyRecord.objects.update(created_at=long_ago)
    stale = [
        IdempotencyRecord(owner="token:x", endpoint="POST /api/consumers", key=f"k-{i}", fingerprint="f",
                          status=201, created_at=long_ago)
        for i in range(3)
    ]  # fmt: skip
    IdempotencyRecord.objects.bulk_create(stale)
    Lifecycle.objects.all().delete()
    # The key is new again: the request is carried out.
    again = post(client, auth, "/api/lifecycles", LIFECYCLE, key="old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    # Writing it purged the expired records; the fresh one stays.
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["old"]


@pytest.mark.django_db
def test_requests_without_a_key_and_reads_are_unchanged(client, auth):
    assert post(client, auth, "/api/consumers", CONSUMER).status_code == 201
    listed = client.get("/api/consumers", headers={**auth, "Idempotency-Key": "k"})
    assert listed.status_code == 200 and "Idempotent-Replayed" not in listed.headers
    assert not IdempotencyRecord.objects.exists()


def send_together(url: str, headers: dict[str, str], payload: dict[str, Any], clients: int) -> list[Any]:
    """``clients`` identical POSTs released at the same moment; their answers."""
    barrier = threading.Barrier(clients)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait()
        response = requests.post(url, data=orjson.dumps(payload), headers=headers, timeout=60)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=send) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.usefixtures("transactional_db")
@pytest.mark.parametrize(("url", "body"), [("/api/consumers", CONSUMER), ("/api/lifecycles", LIFECYCLE)])
def test_concurrent_duplicates_create_one_object_and_all_get_its_answer(live_server_url, token, url, body):
    for round_ in range(3):
        headers = {"Authorization": f"Bearer {token.token}", "Content-Type": "application/json",
                   "Idempotency-Key": f"key-{round_}"}  # fmt: skip
        payload = {**body, "name": f"{body['name']}-{round_}"}
        answers = send_together(f"{live_server_url}{url}", headers, payload, clients=8)
        assert {response.status_code for response in answers} == {201}, [r.text for r in answers]
        assert len({response.content for response in answers}) == 1
        assert sum("Idempotent-Replayed" not in response.headers for response in answers) == 1
    assert Consumer.objects.count() + Lifecycle.objects.count() == 3
