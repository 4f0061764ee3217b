"""``PATCH /api/taps/<name>``: a changed tap stops, what it reads on the broker moves to the new
settings (a new stream, binding or subject), and it runs again with them; a masked password sent
back is kept; bad changes are a 400 saying where, an unknown tap a 404."""

from __future__ import annotations

import threading
from typing import Any

import amqp
import orjson
import pytest
from django.test import Client

from dashboard.events.models import Event
from dashboard.taps.models import Tap
from dashboard.taps.nats_source import durable_name
from dashboard.taps.supervisor import Supervisor
from tests.support.brokers import (
    AMQP_URL,
    NATS_URL,
    amqp_channel,
    amqp_exchange,
    eventually,
    nats_stream,
    redis_client,
    redis_url,
    run,
    tap_row,
    unique,
)

ORDER_PAID = orjson.dumps({"source": "shop.billing", "detail-type": "OrderPaid", "detail": {"order": 9}})


def create(auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = Client().post("/api/taps", body, content_type="application/json", **auth)
    assert response.status_code == 201, response.content
    return dict(response.json())


def patch(auth: dict[str, str], name: str, change: Any) -> Any:
    return Client().patch(f"/api/taps/{name}", orjson.dumps(change), content_type="application/json", **auth)


def tap_threads(name: str) -> int:
    return sum(thread.name == f"tap {name}" for thread in threading.enumerate())


def restarted(supervisor: Supervisor, name: str, fmt: str) -> bool:
    """The tap runs in one thread, with the format ``fmt``: the runner of the settings before gone."""
    running = [tap for tap in supervisor.taps.values() if tap.name == name and tap.alive()]
    return len(running) == 1 and running[0].tap.format == fmt and tap_threads(name) == 1


def test_a_changed_tap_reads_its_new_stream_with_its_new_format_and_leaves_the_old(
    taps_running: Supervisor, operator: dict[str, str]
) -> None:
    client = redis_client()
    old, new, name = unique("test:chg-old:"), unique("test:chg-new:"), unique("chg")
    create(operator, {"name": name, "url": redis_url(), "stream": old})
    client.xadd(old, {"body": ORDER_PAID})
    eventually(lambda: Event.objects.filter(source="shop.billing").exists(), what="read as EventBridge")

    changed = patch(operator, name, {"stream": new, "format": "raw"})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["stream"], changed.json()["format"], changed.json()["state"]) == (new, "raw", "running")
    row = tap_row(name)
    assert (row.options, row.format, row.enabled, row.stored) == ({"stream": new}, "raw", True, 1)
    # The tap's consumer left the old stream's group; the new stream has the group.
    assert [c["name"] for c in client.xinfo_consumers(old, "eventscope")] == []
    assert [g["name"] for g in client.xinfo_groups(new)] == [b"eventscope"]

    client.xadd(new, {"body": ORDER_PAID})
    raw = eventually(lambda: Event.objects.filter(source=f"tap:{name}").first(), what="read raw from the new stream")
    assert (raw.detail_type, raw.detail["detail"]) == (new, {"order": 9})
    eventually(lambda: restarted(taps_running, name, "raw"), what="the old reader gone")
    client.xadd(old, {"body": ORDER_PAID})  # no longer read

    # A change of the format alone restarts it too.
    assert patch(operator, name, {"format": "auto"}).json()["format"] == "auto"
    eventually(lambda: restarted(taps_running, name, "auto"), what="restarted with the new format")
    client.xadd(new, {"body": orjson.dumps({"source": "shop.ship", "detail-type": "OrderShipped", "detail": {}})})
    eventually(lambda: Event.objects.filter(source="shop.ship").exists(), what="read as EventBridge again")
    assert Event.objects.filter(source="shop.billing").count() == 1
    assert tap_row(name).received == 3
    client.delete(old, new)


def test_an_amqp_tap_moved_to_another_binding_keeps_its_queue_and_drops_the_old_binding(
    operator: dict[str, str],
) -> None:
    name = unique("bind")
    with amqp_channel() as channel:
        exchange = amqp_exchange(channel)
        create(operator, {"name": name, "url": AMQP_URL, "exchange": exchange, "binding_key": "order.created"})
        shown = Client().get(f"/api/taps/{name}", **operator).json()["url"]
        assert shown == "amqp://guest:***@127.0.0.1:5672/"
        # Sent back as shown (an edit form's round trip): the stored password stays.
        changed = patch(operator, name, {"url": shown, "binding_key": "order.paid"})
        assert changed.status_code == 200, changed.content
        assert (changed.json()["binding_key"], changed.json()["state"]) == ("order.paid", "running")
        assert tap_row(name).url == AMQP_URL
        channel.basic_publish(amqp.Message(b"{}"), exchange, "order.created")
        channel.basic_publish(amqp.Message(b"{}"), exchange, "order.paid")
        channel.basic_publish(amqp.Message(b"{}"), exchange, "order.paid")
        queue = f"eventscope.tap.{name}"
        eventually(lambda: channel.queue_declare(queue, passive=True)[1] == 2, what="only the new binding's two")
        # A stopped tap changed stays stopped.
        Client().post(f"/api/taps/{name}/stop", **operator)
        stopped = patch(operator, name, {"binding_key": "order.#"})
        assert (stopped.json()["state"], tap_row(name).enabled) == ("stopped", False)


def test_a_nats_tap_moved_to_another_subject_gets_a_durable_consumer_of_that_subject(
    operator: dict[str, str],
) -> None:
    import nats

    prefix = unique("chg")
    run(nats_stream(NATS_URL, [f"{prefix}.>"]))
    name = unique("subj")
    create(operator, {"name": name, "url": NATS_URL, "subject": f"{prefix}.created"})
    assert patch(operator, name, {"subject": f"{prefix}.paid"}).status_code == 200

    async def filter_subject() -> str:
        connection = await nats.connect(servers=[NATS_URL])
        try:
            jetstream = connection.jetstream()
            stream = await jetstream.find_stream_name_by_subject(f"{prefix}.paid")
            return str((await jetstream.consumer_info(stream, durable_name(name))).config.filter_subject)
        finally:
            await connection.close()

    assert run(filter_subject()) == f"{prefix}.paid"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"name": "other"}, None),
        ({"format": "xml"}, "format"),
        ({"subject": "orders"}, None),  # another broker's option
        ({"stream": ""}, "stream"),
        ({"stream": None}, "stream"),
        ({"url": "http://127.0.0.1/"}, "url"),
        ({"url": "nats://127.0.0.1:4222"}, "subject"),  # another kind needs its own options
        ({"url": "redis://:***@127.0.0.1:6379/0"}, "url"),  # no password stored to keep
    ],
)
def test_a_bad_change_is_a_400_and_changes_nothing(
    operator: dict[str, str], change: dict[str, Any], where: str | None
) -> None:
    stream = unique("test:bad:")
    create(operator, {"name": "bad", "url": redis_url(), "stream": stream})
    response = patch(operator, "bad", change)
    assert response.status_code == 400, response.content
    assert response.json()["error"].get("where") == where
    row = tap_row("bad")
    assert (row.url, row.options, row.format) == (redis_url(), {"stream": stream}, "auto")
    redis_client().delete(stream)


def test_a_masked_password_is_not_carried_to_another_host(operator: dict[str, str]) -> None:
    name = unique("pw")
    with amqp_channel() as channel:
        create(operator, {"name": name, "url": AMQP_URL, "exchange": amqp_exchange(channel), "binding_key": "#"})
    response = patch(operator, name, {"url": "amqp://guest:***@localhost:5672/"})
    assert response.status_code == 400
    assert "give the password again" in response.json()["error"]["message"]
    assert tap_row(name).url == AMQP_URL


def test_changing_needs_operate_and_an_existing_tap(operator: dict[str, str], make_token: Any) -> None:
    assert patch(operator, "nope", {"format": "raw"}).status_code == 404
    stream = unique("test:auth:")
    create(operator, {"name": "auth", "url": redis_url(), "stream": stream})
    reader = {"HTTP_AUTHORIZATION": f"Bearer {make_token('read', 'reader').token}"}
    assert patch(reader, "auth", {"format": "raw"}).status_code == 403
    assert patch({}, "auth", {"format": "raw"}).status_code == 401
    assert patch(operator, "auth", [1]).status_code == 400
    unchanged = patch(operator, "auth", {"url": redis_url(), "stream": stream, "format": "auto"})
    assert unchanged.status_code == 200
    assert Tap.objects.get(name="auth").format == "auto"
    redis_client().delete(stream)
