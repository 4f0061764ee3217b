"""Broker consumers through ``/api/consumers``: each kind created with its options and shown with its
password masked, changed (a masked password kept, a new kind with its own options), and what is
refused with a ``400`` naming the field (missing and foreign options, bad values, metadata hosts)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import Client

from dashboard.replay.models import Consumer
from tests.support.replay_helpers import make_consumer

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
NATS = "nats://127.0.0.1:4222"
REDIS = "redis://:r3dis-pw@127.0.0.1:6379/6"


@pytest.fixture
def api(client: Client, auth: dict[str, str]) -> Client:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    return client


def post(api: Client, body: Any) -> Any:
    return api.post("/api/consumers", orjson.dumps(body), content_type="application/json")


def patch(api: Client, name: str, change: Any) -> Any:
    return api.patch(f"/api/consumers/{name}", orjson.dumps(change), content_type="application/json")


def refused(response: Any, where: str | None, code: str = "invalid_request") -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error.get("where")) == (code, where), error
    return str(error["message"])


@pytest.mark.django_db
def test_each_kind_is_created_with_its_options_and_shown_with_the_password_masked(api: Client) -> None:
    amqp = post(api, {"name": "orders-amqp", "url": AMQP, "exchange": "shop", "routing_key": "orders.replayed"})
    assert amqp.status_code == 201, amqp.content
    assert {k: amqp.json()[k] for k in ("kind", "url", "exchange", "routing_key")} == {
        "kind": "amqp", "url": "amqp://guest:***@127.0.0.1:5672/", "exchange": "shop", "routing_key": "orders.replayed",
    }  # fmt: skip
    assert "subject" not in amqp.json() and "stream" not in amqp.json()
    nats = post(api, {"name": "orders-nats", "url": NATS, "subject": "orders.replayed"})
    assert nats.status_code == 201, nats.content
    assert (nats.json()["kind"], nats.json()["url"], nats.json()["subject"]) == ("nats", NATS, "orders.replayed")
    redis = post(api, {"name": "orders-redis", "url": REDIS, "stream": "orders-replayed"})
    assert redis.status_code == 201, redis.content
    assert (redis.json()["kind"], redis.json()["url"]) == ("redis", "redis://:***@127.0.0.1:6379/6")
    http = post(api, {"name": "orders-http", "url": "http://127.0.0.1:9000/hook"})
    assert http.json()["kind"] == "http"
    assert not {"exchange", "routing_key", "subject", "stream"} & set(http.json())

    # Stored in full for the deliveries; the options in ``target``, an HTTP consumer's empty.
    stored = {c.name: (c.url, c.target) for c in Consumer.objects.all()}
    assert stored == {
        "orders-amqp": (AMQP, {"exchange": "shop", "routing_key": "orders.replayed"}),
        "orders-nats": (NATS, {"subject": "orders.replayed"}),
        "orders-redis": (REDIS, {"stream": "orders-replayed"}),
        "orders-http": ("http://127.0.0.1:9000/hook", {}),
    }
    listed = api.get("/api/consumers").json()["results"]
    assert [c["url"] for c in listed] == [  # by name
        "amqp://guest:***@127.0.0.1:5672/", "http://127.0.0.1:9000/hook", NATS, "redis://:***@127.0.0.1:6379/6",
    ]  # fmt: skip
    assert "guest:guest" not in api.get("/api/consumers/orders-amqp").content.decode()


@pytest.mark.django_db
def test_an_amqp_consumer_without_a_routing_key_routes_by_detail_type_and_may_use_the_default_exchange(
    api: Client,
) -> None:
    created = post(api, {"name": "q", "url": "amqps://127.0.0.1/", "exchange": "", "routing_key": ""})
    assert created.status_code == 201, created.content
    assert (created.json()["exchange"], created.json()["routing_key"]) == ("", None)
    assert Consumer.objects.get(name="q").target == {"exchange": ""}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"url": AMQP}, "exchange"),
        ({"url": AMQP, "exchange": None}, "exchange"),
        ({"url": "tls://127.0.0.1:4222"}, "subject"),
        ({"url": REDIS}, "stream"),
        ({"url": REDIS, "stream": ""}, "stream"),
        ({"url": AMQP, "exchange": "shop", "subject": "orders"}, "subject"),
        ({"url": NATS, "subject": "orders", "stream": "orders"}, "stream"),
        ({"url": "http://127.0.0.1:9000/hook", "exchange": "shop"}, "exchange"),
        ({"url": AMQP, "exchange": 7}, "exchange"),
        ({"url": AMQP, "exchange": "shop", "routing_key": ["a"]}, "routing_key"),
        ({"url": AMQP, "exchange": "x" * 256}, "exchange"),
        ({"url": AMQP, "exchange": "é" * 128}, "exchange"),  # 256 bytes in UTF-8
        ({"url": AMQP, "exchange": "shop", "routing_key": "a\nb"}, "routing_key"),
        ({"url": REDIS, "stream": "orders\x00"}, "stream"),
        ({"url": REDIS, "stream": "orders\u2028"}, "stream"),
        ({"url": NATS, "subject": "orders.*"}, "subject"),
        ({"url": NATS, "subject": "orders.>"}, "subject"),
        ({"url": NATS, "subject": "orders created"}, "subject"),
        ({"url": NATS, "subject": "orders..created"}, "subject"),
        ({"url": NATS, "subject": ".orders"}, "subject"),
    ],
)
def test_a_missing_foreign_or_bad_option_is_refused_naming_it(api: Client, body: dict[str, Any], where: str) -> None:
    refused(post(api, {"name": "c", **body}), where)
    assert not Consumer.objects.exists()


@pytest.mark.django_db
def test_the_longest_options_are_taken() -> None:
    from dashboard.replay.actions import check_consumer

    fields = check_consumer({"name": "c", "url": AMQP, "exchange": "x" * 255, "routing_key": "é" * 127})
    assert fields["target"] == {"exchange": "x" * 255, "routing_key": "é" * 127}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"url": "amqp://169.254.169.254/", "exchange": "shop"},
        {"url": "nats://metadata.google.internal", "subject": "orders"},
        {"url": "redis://[fe80::1]:6379/0", "stream": "orders"},
        {"url": "rediss://user:pw@0xa9fea9fe/0", "stream": "orders"},
    ],
)
def test_a_broker_url_at_a_metadata_or_link_local_address_is_refused(api: Client, body: dict[str, Any]) -> None:
    refused(post(api, {"name": "c", **body}), "url", "url_refused")
    assert not Consumer.objects.exists()


@pytest.mark.django_db
def test_the_allow_and_deny_lists_hold_for_broker_urls(api: Client, settings: Any) -> None:
    settings.EVENTSCOPE_CONSUMER_DENY = ["127.0.0.0/8"]
    message = refused(post(api, {"name": "c", "url": AMQP, "exchange": "shop"}), "url", "url_refused")
    assert "EVENTSCOPE_CONSUMER_DENY" in message
    settings.EVENTSCOPE_CONSUMER_DENY = []
    settings.EVENTSCOPE_CONSUMER_ALLOW = ["10.0.0.0/8"]
    message = refused(post(api, {"name": "c", "url": NATS, "subject": "orders"}), "url", "url_refused")
    assert "EVENTSCOPE_CONSUMER_ALLOW" in message


@pytest.mark.django_db
def test_credentials_in_an_http_url_are_still_refused(api: Client) -> None:
    message = refused(post(api, {"name": "c", "url": "http://u:p@127.0.0.1:9000/"}), "url", "url_refused")
    assert "secret" in message


@pytest.mark.django_db
def test_a_change_keeps_the_masked_password_and_the_options_not_changed(api: Client) -> None:
    make_consumer("orders", AMQP, target={"exchange": "shop", "routing_key": "orders.replayed"})
    shown = api.get("/api/consumers/orders").json()
    # The edit form sends the URL back as it was shown, with a new vhost.
    changed = patch(api, "orders", {"url": shown["url"].removesuffix("/") + "/replays", "routing_key": None})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["url"], changed.json()["routing_key"]) == ("amqp://guest:***@127.0.0.1:5672/replays", None)
    consumer = Consumer.objects.get()
    assert (consumer.url, consumer.target) == ("amqp://guest:guest@127.0.0.1:5672/replays", {"exchange": "shop"})
    # A new password replaces the stored one; the options stay.
    assert patch(api, "orders", {"url": "amqp://guest:n3w@127.0.0.1:5672/"}).status_code == 200
    consumer.refresh_from_db()
    assert (consumer.url, consumer.target) == ("amqp://guest:n3w@127.0.0.1:5672/", {"exchange": "shop"})
    # The whole object as shown is not a change: its output fields are unknown input.
    assert refused(patch(api, "orders", {"kind": "amqp"}), None).startswith("Unknown field(s): kind")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:***@localhost:5672/",  # another host
        "amqp://guest:***@127.0.0.1:5673/",  # another port
        "amqp://admin:***@127.0.0.1:5672/",  # another user
        "amqps://guest:***@127.0.0.1:5672/",  # another scheme
    ],
)
def test_a_masked_password_is_not_carried_to_another_place(api: Client, url: str) -> None:
    make_consumer("orders", AMQP, target={"exchange": "shop"})
    message = refused(patch(api, "orders", {"url": url}), "url")
    assert "give the password again" in message
    assert Consumer.objects.get().url == AMQP


@pytest.mark.django_db
def test_a_masked_password_with_none_stored_is_refused(api: Client) -> None:
    make_consumer("orders", NATS, target={"subject": "orders"})
    refused(patch(api, "orders", {"url": "nats://me:***@127.0.0.1:4222"}), "url")
    # Percent-encoded, three asterisks are a password like any other.
    assert patch(api, "orders", {"url": "nats://me:%2A%2A%2A@127.0.0.1:4222"}).status_code == 200
    assert Consumer.objects.get().url == "nats://me:%2A%2A%2A@127.0.0.1:4222"


@pytest.mark.django_db
def test_a_change_of_kind_needs_the_new_kinds_options_and_drops_the_old_ones(api: Client) -> None:
    make_consumer("orders", AMQP, target={"exchange": "shop"})
    refused(patch(api, "orders", {"url": NATS}), "subject")
    refused(patch(api, "orders", {"url": NATS, "subject": "orders", "exchange": "shop"}), "exchange")
    moved = patch(api, "orders", {"url": NATS, "subject": "orders.replayed"})
    assert moved.status_code == 200, moved.content
    assert moved.json()["kind"] == "nats" and "exchange" not in moved.json()
    assert Consumer.objects.get().target == {"subject": "orders.replayed"}
    back = patch(api, "orders", {"url": "http://127.0.0.1:9000/hook"})
    assert back.status_code == 200, back.content
    assert (back.json()["kind"], Consumer.objects.get().target) == ("http", {})
    refused(patch(api, "orders", {"subject": "orders"}), "subject")  # an HTTP consumer takes none


@pytest.mark.django_db
def test_a_refused_change_changes_nothing(api: Client) -> None:
    make_consumer("orders", REDIS, target={"stream": "orders"})
    refused(patch(api, "orders", {"stream": "bad\tname"}), "stream")
    refused(patch(api, "orders", {"url": "redis://:***@169.254.169.254/0"}), "url")
    refused(patch(api, "orders", {"url": "rediss://:x@169.254.169.254/0"}), "url", "url_refused")
    consumer = Consumer.objects.get()
    assert (consumer.url, consumer.target) == (REDIS, {"stream": "orders"})


@pytest.mark.django_db
def test_the_admin_lists_broker_urls_masked_and_checks_their_options(admin: Client) -> None:
    consumer = make_consumer("orders", AMQP, target={"exchange": "shop"})
    listing = admin.get("/admin/replay/consumer/").content.decode()
    assert "amqp://guest:***@127.0.0.1:5672/" in listing and "guest:guest" not in listing
    form = {"name": "orders", "url": NATS, "pattern": "null", "secret": "", "rate_per_second": ""}
    refused = admin.post(f"/admin/replay/consumer/{consumer.pk}/change/", {**form, "target": '{"exchange": "shop"}'})
    assert refused.status_code == 200 and "takes &#x27;subject&#x27;" in refused.content.decode()
    saved = admin.post(f"/admin/replay/consumer/{consumer.pk}/change/", {**form, "target": '{"subject": "orders.x"}'})
    assert saved.status_code == 302
    consumer.refresh_from_db()
    assert (consumer.url, consumer.target) == (NATS, {"subject": "orders.x"})
