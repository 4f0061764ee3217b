"""``/api/taps``: creating, listing, stopping, starting and deleting taps, and bad input answered with
a clear 4xx. Creation reaches the real broker (the tap's queue, group or consumer is created then)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dashboard.taps.models import Tap
from tests.support.brokers import AMQP_URL, amqp_channel, amqp_exchange, free_port, redis_client, redis_url, unique


def post(auth: dict[str, str], body: Any) -> Any:
    return Client().post("/api/taps", body, content_type="application/json", **auth)


@pytest.fixture
def exchange() -> Any:
    with amqp_channel() as channel:
        yield amqp_exchange(channel, "fanout")


def test_it_creates_a_tap_and_creates_its_queue_on_the_broker(operator: dict[str, str], exchange: str) -> None:
    name = unique("q")
    response = post(operator, {"name": name, "url": AMQP_URL, "exchange": exchange, "binding_key": ""})
    assert response.status_code == 201
    assert response["Location"] == f"/api/taps/{name}"
    body = response.json()
    assert body["state"] == "running"
    assert body["url"] == "amqp://guest:***@127.0.0.1:5672/"
    assert (body["exchange"], body["binding_key"], body["format"]) == (exchange, "", "auto")
    assert (body["received"], body["stored"], body["rejected"], body["last_error"]) == (0, 0, 0, "")
    with amqp_channel() as channel:
        channel.queue_declare(f"eventscope.tap.{name}", passive=True)  # exists (raises otherwise)
    assert Tap.objects.get(name=name).url == AMQP_URL  # stored in full, shown masked
    listed = Client().get("/api/taps", **operator).json()["results"]
    assert [t["name"] for t in listed] == [name]
    assert "guest:guest" not in str(listed)
    detail = Client().get(f"/api/taps/{name}", **operator).json()
    assert detail["recent_rejections"] == []
    # Deleting it removes its queue from the broker.
    assert Client().delete(f"/api/taps/{name}", **operator).status_code == 204
    assert not Tap.objects.filter(name=name).exists()
    with amqp_channel() as channel:
        import amqp

        with pytest.raises(amqp.exceptions.NotFound):
            channel.queue_declare(f"eventscope.tap.{name}", passive=True)


def test_an_unreachable_broker_is_saved_failing_with_a_clear_error(operator: dict[str, str]) -> None:
    port = free_port()
    response = post(operator, {"name": "far", "url": f"redis://:s3cret@127.0.0.1:{port}/0", "stream": "orders"})
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "failing"
    assert "cannot connect to Redis" in body["last_error"]
    assert body["url"] == f"redis://:***@127.0.0.1:{port}/0"
    response = post(operator, {"name": "gone", "url": f"amqp://u:pw@127.0.0.1:{port}/", "exchange": "x",
                               "binding_key": "#"})  # fmt: skip
    assert response.json()["state"] == "failing"
    assert f"cannot connect to the AMQP broker at 127.0.0.1:{port}" in response.json()["last_error"]
    response = post(operator, {"name": "nats-gone", "url": f"nats://127.0.0.1:{port}", "subject": "a.b"})
    assert response.json()["state"] == "failing"
    assert "cannot connect to NATS" in response.json()["last_error"]


def test_a_missing_exchange_is_failing_with_the_reason(operator: dict[str, str]) -> None:
    body = post(operator, {"name": "nox", "url": AMQP_URL, "exchange": unique("none."), "binding_key": "#"}).json()
    assert body["state"] == "failing"
    assert "has no exchange" in body["last_error"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "a", "url": "http://example/", "exchange": "x"}, "url"),
        ({"name": "a", "url": "kafka://127.0.0.1:9092", "topic": "x"}, "url"),
        ({"name": "a", "url": "amqp://127.0.0.1/", "exchange": "x"}, "binding_key"),
        ({"name": "a", "url": "amqp://127.0.0.1/", "binding_key": "#"}, "exchange"),
        ({"name": "a", "url": "nats://127.0.0.1:4222"}, "subject"),
        ({"name": "a", "url": "redis://127.0.0.1:6379/0", "stream": ""}, "stream"),
        ({"name": "a", "url": "redis://127.0.0.1:6379/0", "stream": 5}, "stream"),
        ({"name": "bad name", "url": "redis://127.0.0.1/0", "stream": "s"}, "name"),
        ({"name": "a.b", "url": "redis://127.0.0.1/0", "stream": "s"}, "name"),
        ({"url": "redis://127.0.0.1/0", "stream": "s"}, "name"),
        ({"name": "a", "stream": "s"}, "url"),
        ({"name": "a", "url": "redis://127.0.0.1/0", "stream": "s", "format": "xml"}, "format"),
        ({"name": "a", "url": "redis://:99999/0", "stream": "s"}, "url"),
        ({"name": "a", "url": "redis://", "stream": "s"}, "url"),
    ],
)
def test_bad_input_is_a_400_saying_where(operator: dict[str, str], body: dict[str, Any], where: str) -> None:
    response = post(operator, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["where"] == where
    assert not Tap.objects.exists()


def test_other_bad_requests(operator: dict[str, str], make_token: Any) -> None:
    assert post(operator, [1, 2]).status_code == 400
    assert Client().post("/api/taps", b"{", content_type="application/json", **operator).status_code == 400
    extra = {"name": "a", "url": "redis://127.0.0.1/0", "stream": "s", "subject": "x"}
    assert post(operator, extra).status_code == 400  # a field another broker takes
    reader = {"HTTP_AUTHORIZATION": f"Bearer {make_token('read', 'reader').token}"}
    assert Client().get("/api/taps", **reader).status_code == 200
    assert post(reader, {"name": "a", "url": redis_url(), "stream": "s"}).status_code == 403
    assert Client().get("/api/taps").status_code == 401
    assert Client().get("/api/taps/nope", **operator).status_code == 404
    assert Client().post("/api/taps/nope/stop", **operator).status_code == 404
    assert Client().delete("/api/taps/nope", **operator).status_code == 404
    assert Client().put("/api/taps/nope", **operator).status_code == 405


def test_a_taken_name_is_a_409(operator: dict[str, str]) -> None:
    stream = unique("test:dup:")
    body = {"name": "dup", "url": redis_url(), "stream": stream}
    assert post(operator, body).status_code == 201
    response = post(operator, body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    redis_client().delete(stream)


def test_stop_and_start(operator: dict[str, str]) -> None:
    stream = unique("test:ss:")
    post(operator, {"name": "ss", "url": redis_url(), "stream": stream})
    stopped = Client().post("/api/taps/ss/stop", **operator).json()
    assert stopped["state"] == "stopped"
    assert Client().get("/api/taps/ss", **operator).json()["state"] == "stopped"
    assert Tap.objects.get(name="ss").enabled is False
    started = Client().post("/api/taps/ss/start", **operator).json()
    assert started["state"] == "running"
    assert Tap.objects.get(name="ss").enabled is True
    redis_client().delete(stream)
